/* skiff: the friendly command line client (placeholder until the CLI lands). */
#include <stdio.h>

int main(void)
{
    fputs("skiff: no commands yet\n", stderr);
    return 2;
}
