/* json.h — a small DOM JSON reader/writer for berth-nsrun.
 *
 * Only what an OCI config.json and our state.json need: objects, arrays,
 * strings (with \uXXXX escapes, UTF-16 surrogates folded to UTF-8), numbers
 * (kept both as a double and, when integral, as an exact int64), booleans and
 * null. Values live until the process exits; nothing is freed (the runtime is
 * a short-lived process).
 */
#ifndef NSRUN_JSON_H
#define NSRUN_JSON_H
#include <stdint.h>
#include <stdio.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jv {
  jtype t;
  char *key;          /* member name when inside an object */
  char *s;            /* J_STR */
  double n;           /* J_NUM */
  int64_t i;          /* J_NUM, exact when isint */
  int isint;
  int b;              /* J_BOOL */
  struct jv *child;   /* first element / member */
  struct jv *next;    /* next sibling */
} jv;

/* Parse text; on error returns NULL and sets *err to a static-ish message. */
jv *json_parse(const char *text, char *err, size_t errlen);
jv *json_parse_file(const char *path, char *err, size_t errlen);
jv *jget(const jv *obj, const char *key);
const char *jstr(const jv *obj, const char *key); /* NULL unless a string */
int jlen(const jv *arr);
/* "empty" = absent, null, false, 0, "", [] or {} (used to decide whether an
 * unsupported field actually asks for something). */
int jempty(const jv *v);
void json_write_str(FILE *f, const char *s);

#endif
