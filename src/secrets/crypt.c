/* Secret values at rest: AES-256-GCM under a key file in the data dir.
 *
 * The key is 32 random bytes in DATA-DIR/secrets.key (mode 0600), written
 * once on first start through a temp file and a link (so two daemons
 * starting at once agree on one key). Each value gets its own random
 * 96-bit nonce; the secret's ARN and version id are the additional data,
 * so a sealed value copied to another row does not decrypt. */
#include "secrets/secrets.h"
#include "secrets/secrets-internal.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

static uint8_t key[SECRETS_KEY_LEN];
static bool have_key;

void secrets_set_key(const uint8_t k[SECRETS_KEY_LEN])
{
    memcpy(key, k, SECRETS_KEY_LEN);
    have_key = true;
}

static int read_key(const char *path, struct error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return error_errno(err, errno, "stat %s", path);
    if ((st.st_mode & 077) != 0)
        return error_set(err, EPERM, NULL, "%s is readable by others (mode %o); want 0600", path,
                         st.st_mode & 0777);
    uint8_t k[SECRETS_KEY_LEN + 1];
    ssize_t n;
    do
        n = read(fd, k, sizeof(k));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return error_errno(err, errno, "read %s", path);
    if (n != SECRETS_KEY_LEN)
        return error_set(err, EINVAL, NULL, "%s holds %zd bytes, not a %d-byte key", path, n,
                         SECRETS_KEY_LEN);
    secrets_set_key(k);
    OPENSSL_cleanse(k, sizeof(k));
    return 0;
}

int secrets_init(const char *data_dir, struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/secrets.key", data_dir);
    int r = read_key(path, err);
    if (r != -ENOENT)
        return r;
    _cleanup_free_ char *tmp = xasprintf("%s/secrets.key.%d", data_dir, (int)getpid());
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return error_errno(err, errno, "create %s", tmp);
    uint8_t k[SECRETS_KEY_LEN];
    hash_random(k, sizeof(k));
    ssize_t n = write(fd, k, sizeof(k));
    OPENSSL_cleanse(k, sizeof(k));
    if (n != (ssize_t)sizeof(k) || fsync(fd) < 0) {
        r = error_errno(err, n < 0 ? errno : EIO, "write %s", tmp);
        unlink(tmp);
        return r;
    }
    /* link() fails with EEXIST when another start won: its key is the key. */
    if (link(tmp, path) < 0 && errno != EEXIST) {
        r = error_errno(err, errno, "link %s", path);
        unlink(tmp);
        return r;
    }
    unlink(tmp);
    return read_key(path, err);
}

int secrets_seal(const char *aad, const void *plain, size_t len, uint8_t **ret, size_t *ret_len,
                 struct error **err)
{
    if (!have_key)
        return error_set(err, EIO, NULL, "no secrets key loaded");
    size_t total = SECRETS_NONCE_LEN + len + SECRETS_TAG_LEN;
    uint8_t *out = xmalloc(total);
    hash_random(out, SECRETS_NONCE_LEN);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0, fin = 0, ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, out) == 1;
    ok = ok && EVP_EncryptUpdate(c, NULL, &outl, (const uint8_t *)aad, (int)strlen(aad)) == 1;
    ok = ok && EVP_EncryptUpdate(c, out + SECRETS_NONCE_LEN, &outl, plain, (int)len) == 1;
    ok = ok && EVP_EncryptFinal_ex(c, out + SECRETS_NONCE_LEN + outl, &fin) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SECRETS_TAG_LEN,
                                   out + SECRETS_NONCE_LEN + len) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        free(out);
        return error_set(err, EIO, NULL, "encrypt secret value");
    }
    *ret = out;
    *ret_len = total;
    return 0;
}

int secrets_unseal(const char *aad, const uint8_t *sealed, size_t len, char **ret, size_t *ret_len,
                   struct error **err)
{
    if (!have_key)
        return error_set(err, EIO, NULL, "no secrets key loaded");
    if (len < SECRETS_NONCE_LEN + SECRETS_TAG_LEN)
        return error_set(err, EBADMSG, NULL, "sealed secret value is truncated");
    size_t n = len - SECRETS_NONCE_LEN - SECRETS_TAG_LEN;
    char *out = xmalloc(n + 1);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0, fin = 0,
        ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, sealed) == 1;
    ok = ok && EVP_DecryptUpdate(c, NULL, &outl, (const uint8_t *)aad, (int)strlen(aad)) == 1;
    ok = ok && EVP_DecryptUpdate(c, (uint8_t *)out, &outl, sealed + SECRETS_NONCE_LEN, (int)n) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SECRETS_TAG_LEN,
                                   (void *)(sealed + SECRETS_NONCE_LEN + n)) == 1;
    ok = ok && EVP_DecryptFinal_ex(c, (uint8_t *)out + outl, &fin) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        OPENSSL_cleanse(out, n);
        free(out);
        return error_set(err, EBADMSG, NULL, "secret value does not authenticate under the key");
    }
    out[n] = 0;
    *ret = out;
    if (ret_len)
        *ret_len = n;
    return 0;
}
