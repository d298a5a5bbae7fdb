/* The AWS query protocols: form-encoded requests, XML answers.
 *
 * Two dialects share the code: "ec2" (EC2: list members as Name.N, input
 * names from capitalised locationNames, answers with a requestId element
 * and lists of <item>, errors as Response/Errors/Error) and "query" (IAM,
 * ELBv2, ...: lists as Name.member.N, answers wrapped in ActionResult with
 * ResponseMetadata, lists of <member>, errors as ErrorResponse/Error with a
 * Type).
 *
 * Requests are decoded into the same JSON the JSON 1.1 services get, keyed
 * by the model's member names, so handlers and model_validate() do not
 * know which protocol carried the call. Handlers answer JSON keyed by the
 * XML element names of the output shape (e.g. {"vpcSet": [...]}), which
 * query_render() writes out as XML. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

enum query_dialect {
    QUERY_DIALECT_EC2,
    QUERY_DIALECT_AWS, /* the plain "query" protocol */
};

/* Cap on the parameters of one request. */
#define QUERY_MAX_PARAMS 4096

/* Decodes a form-encoded body against the embedded model `model` (the
 * parsed output of src/ec2/gen-model.py). On success *ret_action is the
 * Action (a new string) and *ret_in the operation's input as a new JSON
 * object. Errors carry the dialect's codes: MissingAction, InvalidAction
 * (an action the model does not hold), MissingParameter,
 * InvalidParameterValue (a value of the wrong type), and
 * InvalidParameterCombination for malformed encoding. */
int query_decode(const json_t *model, enum query_dialect d, const char *body, size_t len,
                 char **ret_action, json_t **ret_in, struct error **err);

/* Renders a successful answer (out may be NULL) as the dialect's XML
 * document; returns a new string. xmlns may be NULL. */
char *query_render(enum query_dialect d, const char *action, const json_t *out,
                   const char *request_id, const char *xmlns);

/* Renders an error document; returns a new string. `status` decides
 * Sender/Receiver in the plain query dialect. */
char *query_render_error(enum query_dialect d, int status, const char *code, const char *message,
                         const char *request_id);

/* Translates the JSON 1.1 error codes the shared request path uses (model
 * validation, throttling, authentication) into the dialect's codes; other
 * codes are returned unchanged. */
const char *query_error_code(enum query_dialect d, const char *code, const char *message);

/* Appends s to an XML text node with &, <, >, ", ' escaped. Exposed for
 * tests. */
struct buf;
void query_xml_escape(struct buf *b, const char *s);
