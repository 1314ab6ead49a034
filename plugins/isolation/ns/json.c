/* json.c — see json.h. */
#include "json.h"
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct { const char *p; char *err; size_t errlen; int depth; } parser;

static jv *newv(jtype t) {
  jv *v = calloc(1, sizeof *v);
  if (!v) { perror("calloc"); exit(1); }
  v->t = t;
  return v;
}

static void fail(parser *ps, const char *msg) {
  if (ps->err[0] == 0) snprintf(ps->err, ps->errlen, "%s", msg);
}

static void ws(parser *ps) { while (*ps->p && isspace((unsigned char)*ps->p)) ps->p++; }

static void put_utf8(char **o, unsigned cp) {
  char *q = *o;
  if (cp < 0x80) *q++ = (char)cp;
  else if (cp < 0x800) { *q++ = (char)(0xc0 | (cp >> 6)); *q++ = (char)(0x80 | (cp & 0x3f)); }
  else if (cp < 0x10000) { *q++ = (char)(0xe0 | (cp >> 12)); *q++ = (char)(0x80 | ((cp >> 6) & 0x3f)); *q++ = (char)(0x80 | (cp & 0x3f)); }
  else { *q++ = (char)(0xf0 | (cp >> 18)); *q++ = (char)(0x80 | ((cp >> 12) & 0x3f)); *q++ = (char)(0x80 | ((cp >> 6) & 0x3f)); *q++ = (char)(0x80 | (cp & 0x3f)); }
  *o = q;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static char *pstring(parser *ps) {
  if (*ps->p != '"') { fail(ps, "expected string"); return NULL; }
  ps->p++;
  const char *s = ps->p;
  size_t cap = 0;
  while (s[cap] && s[cap] != '"') { if (s[cap] == '\\' && s[cap + 1]) cap++; cap++; }
  char *out = malloc(cap * 2 + 8), *o = out;
  if (!out) { perror("malloc"); exit(1); }
  while (*ps->p && *ps->p != '"') {
    unsigned char c = (unsigned char)*ps->p;
    if (c < 0x20) { fail(ps, "control character in string"); return NULL; }
    if (c != '\\') { *o++ = (char)c; ps->p++; continue; }
    ps->p++;
    switch (*ps->p) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        unsigned cp;
        if (hex4(ps->p + 1, &cp)) { fail(ps, "bad \\u escape"); return NULL; }
        ps->p += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && ps->p[1] == '\\' && ps->p[2] == 'u') {
          unsigned lo;
          if (!hex4(ps->p + 3, &lo) && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            ps->p += 6;
          }
        }
        if (cp == 0) { fail(ps, "NUL in string"); return NULL; }
        put_utf8(&o, cp);
        break;
      }
      default: fail(ps, "bad escape"); return NULL;
    }
    ps->p++;
  }
  if (*ps->p != '"') { fail(ps, "unterminated string"); return NULL; }
  ps->p++;
  *o = 0;
  return out;
}

static jv *pvalue(parser *ps);

static jv *pvalue(parser *ps) {
  ws(ps);
  if (++ps->depth > 200) { fail(ps, "nesting too deep"); return NULL; }
  jv *v = NULL;
  char c = *ps->p;
  if (c == '{' || c == '[') {
    int obj = c == '{';
    v = newv(obj ? J_OBJ : J_ARR);
    ps->p++;
    ws(ps);
    jv **tail = &v->child;
    if (*ps->p == (obj ? '}' : ']')) { ps->p++; goto done; }
    for (;;) {
      char *key = NULL;
      ws(ps);
      if (obj) {
        key = pstring(ps);
        if (!key) return NULL;
        ws(ps);
        if (*ps->p != ':') { fail(ps, "expected ':'"); return NULL; }
        ps->p++;
      }
      jv *e = pvalue(ps);
      if (!e) return NULL;
      e->key = key;
      *tail = e;
      tail = &e->next;
      ws(ps);
      if (*ps->p == ',') { ps->p++; continue; }
      if (*ps->p == (obj ? '}' : ']')) { ps->p++; break; }
      fail(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
      return NULL;
    }
  } else if (c == '"') {
    v = newv(J_STR);
    v->s = pstring(ps);
    if (!v->s) return NULL;
  } else if (!strncmp(ps->p, "true", 4)) { v = newv(J_BOOL); v->b = 1; ps->p += 4; }
  else if (!strncmp(ps->p, "false", 5)) { v = newv(J_BOOL); ps->p += 5; }
  else if (!strncmp(ps->p, "null", 4)) { v = newv(J_NULL); ps->p += 4; }
  else if (c == '-' || (c >= '0' && c <= '9')) {
    v = newv(J_NUM);
    char *end;
    errno = 0;
    v->n = strtod(ps->p, &end);
    if (end == ps->p) { fail(ps, "bad number"); return NULL; }
    int integral = 1;
    for (const char *q = ps->p; q < end; q++) if (*q == '.' || *q == 'e' || *q == 'E') integral = 0;
    if (integral) {
      errno = 0;
      long long ll = strtoll(ps->p, NULL, 10);
      if (errno == 0) { v->i = ll; v->isint = 1; }
    }
    ps->p = end;
  } else { fail(ps, "unexpected character"); return NULL; }
done:
  ps->depth--;
  return v;
}

jv *json_parse(const char *text, char *err, size_t errlen) {
  parser ps = { text, err, errlen, 0 };
  err[0] = 0;
  jv *v = pvalue(&ps);
  if (!v) {
    size_t off = (size_t)(ps.p - text);
    size_t l = strlen(err);
    snprintf(err + l, errlen - l, " at offset %zu", off);
    return NULL;
  }
  ws(&ps);
  if (*ps.p) { snprintf(err, errlen, "trailing data at offset %zu", (size_t)(ps.p - text)); return NULL; }
  return v;
}

jv *json_parse_file(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "re");
  if (!f) { snprintf(err, errlen, "open %s: %s", path, strerror(errno)); return NULL; }
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  size_t r;
  while ((r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += r;
    if (len + 1 >= cap) { cap *= 2; buf = realloc(buf, cap); if (!buf) { perror("realloc"); exit(1); } }
  }
  fclose(f);
  buf[len] = 0;
  if (strlen(buf) != len) { snprintf(err, errlen, "%s: NUL byte in file", path); return NULL; }
  jv *v = json_parse(buf, err, errlen);
  if (!v) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s: %s", path, err);
    snprintf(err, errlen, "%s", tmp);
  }
  return v;
}

jv *jget(const jv *obj, const char *key) {
  if (!obj || obj->t != J_OBJ) return NULL;
  jv *found = NULL;
  for (jv *e = obj->child; e; e = e->next) if (!strcmp(e->key, key)) found = e; /* last wins */
  return found;
}

const char *jstr(const jv *obj, const char *key) {
  jv *v = jget(obj, key);
  return v && v->t == J_STR ? v->s : NULL;
}

int jlen(const jv *arr) {
  int n = 0;
  if (arr && (arr->t == J_ARR || arr->t == J_OBJ)) for (jv *e = arr->child; e; e = e->next) n++;
  return n;
}

int jempty(const jv *v) {
  if (!v) return 1;
  switch (v->t) {
    case J_NULL: return 1;
    case J_BOOL: return !v->b;
    case J_NUM: return v->n == 0;
    case J_STR: return v->s[0] == 0;
    case J_ARR: case J_OBJ:
      for (jv *e = v->child; e; e = e->next) if (!jempty(e)) return 0;
      return 1;
  }
  return 1;
}

void json_write_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') { fputc('\\', f); fputc(*p, f); }
    else if (*p == '\n') fputs("\\n", f);
    else if (*p == '\t') fputs("\\t", f);
    else if (*p == '\r') fputs("\\r", f);
    else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}
