/* A small JSON reader and writer for the example agents: parse a document into a tree,
 * look values up, and print them back compactly. Enough for agent input and output; not a
 * general-purpose library (numbers are doubles, \u escapes outside the BMP are kept as-is). */
#ifndef HERMES_JSON_H
#define HERMES_JSON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
  jtype type;
  double num;
  int boolean;
  char *str;            /* J_STR: decoded UTF-8 */
  size_t len;           /* J_STR: bytes; J_ARR/J_OBJ: items */
  char **keys;          /* J_OBJ */
  struct jval **items;  /* J_ARR/J_OBJ */
} jval;

typedef struct { const char *p, *end; const char *error; } jparser;

static inline jval *jnew(jtype t) {
  jval *v = calloc(1, sizeof *v);
  if (!v) { fputs("out of memory\n", stderr); exit(70); }
  v->type = t;
  return v;
}

static inline void jpush(jval *v, char *key, jval *item) {
  v->items = realloc(v->items, (v->len + 1) * sizeof *v->items);
  if (key || v->type == J_OBJ) v->keys = realloc(v->keys, (v->len + 1) * sizeof *v->keys);
  if (!v->items || (v->type == J_OBJ && !v->keys)) { fputs("out of memory\n", stderr); exit(70); }
  if (v->type == J_OBJ) v->keys[v->len] = key;
  v->items[v->len++] = item;
}

static inline void jskip(jparser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static inline void jutf8(char **out, unsigned cp) {
  char *o = *out;
  if (cp < 0x80) *o++ = (char)cp;
  else if (cp < 0x800) { *o++ = (char)(0xC0 | (cp >> 6)); *o++ = (char)(0x80 | (cp & 0x3F)); }
  else { *o++ = (char)(0xE0 | (cp >> 12)); *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)); *o++ = (char)(0x80 | (cp & 0x3F)); }
  *out = o;
}

static inline char *jparse_string(jparser *ps, size_t *len_out) {
  ps->p++; /* opening quote */
  char *buf = malloc((size_t)(ps->end - ps->p) + 1), *o = buf;
  if (!buf) { fputs("out of memory\n", stderr); exit(70); }
  while (ps->p < ps->end && *ps->p != '"') {
    char c = *ps->p++;
    if (c != '\\') { *o++ = c; continue; }
    if (ps->p >= ps->end) break;
    char e = *ps->p++;
    switch (e) {
      case 'n': *o++ = '\n'; break;
      case 't': *o++ = '\t'; break;
      case 'r': *o++ = '\r'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'u': {
        if (ps->end - ps->p < 4) { ps->error = "bad \\u escape"; free(buf); return NULL; }
        char hex[5] = {0}; memcpy(hex, ps->p, 4); ps->p += 4;
        jutf8(&o, (unsigned)strtoul(hex, NULL, 16));
        break;
      }
      default: *o++ = e;
    }
  }
  if (ps->p >= ps->end) { ps->error = "unterminated string"; free(buf); return NULL; }
  ps->p++; /* closing quote */
  *o = 0;
  *len_out = (size_t)(o - buf);
  return buf;
}

static inline jval *jparse_value(jparser *ps, int depth);

static inline jval *jparse_container(jparser *ps, int depth, int is_obj) {
  jval *v = jnew(is_obj ? J_OBJ : J_ARR);
  ps->p++;
  jskip(ps);
  if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) { ps->p++; return v; }
  for (;;) {
    char *key = NULL;
    jskip(ps);
    if (is_obj) {
      size_t klen;
      if (ps->p >= ps->end || *ps->p != '"') { ps->error = "expected a key"; return NULL; }
      if (!(key = jparse_string(ps, &klen))) return NULL;
      jskip(ps);
      if (ps->p >= ps->end || *ps->p != ':') { ps->error = "expected ':'"; return NULL; }
      ps->p++;
    }
    jval *item = jparse_value(ps, depth + 1);
    if (!item) return NULL;
    jpush(v, key, item);
    jskip(ps);
    if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
    if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) { ps->p++; return v; }
    ps->error = is_obj ? "expected ',' or '}'" : "expected ',' or ']'";
    return NULL;
  }
}

static inline jval *jparse_value(jparser *ps, int depth) {
  if (depth > 200) { ps->error = "nested too deeply"; return NULL; }
  jskip(ps);
  if (ps->p >= ps->end) { ps->error = "unexpected end of input"; return NULL; }
  char c = *ps->p;
  if (c == '{' || c == '[') return jparse_container(ps, depth, c == '{');
  if (c == '"') {
    jval *v = jnew(J_STR);
    if (!(v->str = jparse_string(ps, &v->len))) return NULL;
    return v;
  }
  if (!strncmp(ps->p, "true", 4)) { ps->p += 4; jval *v = jnew(J_BOOL); v->boolean = 1; return v; }
  if (!strncmp(ps->p, "false", 5)) { ps->p += 5; return jnew(J_BOOL); }
  if (!strncmp(ps->p, "null", 4)) { ps->p += 4; return jnew(J_NULL); }
  if (c == '-' || (c >= '0' && c <= '9')) {
    char *stop;
    jval *v = jnew(J_NUM);
    v->num = strtod(ps->p, &stop);
    ps->p = stop;
    return v;
  }
  ps->error = "unexpected character";
  return NULL;
}

/* Parse a whole document; on failure returns NULL and sets *error. */
static inline jval *jparse(const char *text, size_t len, const char **error) {
  jparser ps = { text, text + len, NULL };
  jval *v = jparse_value(&ps, 0);
  if (v) { jskip(&ps); if (ps.p != ps.end) { v = NULL; ps.error = "trailing characters"; } }
  *error = ps.error;
  return v;
}

static inline jval *jget(const jval *obj, const char *key) {
  if (!obj || obj->type != J_OBJ) return NULL;
  for (size_t i = 0; i < obj->len; i++) if (!strcmp(obj->keys[i], key)) return obj->items[i];
  return NULL;
}

static inline void jprint_string(FILE *out, const char *s, size_t len) {
  fputc('"', out);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') { fputc('\\', out); fputc(c, out); }
    else if (c == '\n') fputs("\\n", out);
    else if (c == '\t') fputs("\\t", out);
    else if (c == '\r') fputs("\\r", out);
    else if (c < 0x20) fprintf(out, "\\u%04x", c);
    else fputc(c, out);
  }
  fputc('"', out);
}

static inline void jprint(FILE *out, const jval *v) {
  switch (v->type) {
    case J_NULL: fputs("null", out); break;
    case J_BOOL: fputs(v->boolean ? "true" : "false", out); break;
    case J_NUM:
      if (v->num == (double)(long long)v->num && v->num < 9e15 && v->num > -9e15) fprintf(out, "%lld", (long long)v->num);
      else fprintf(out, "%.17g", v->num);
      break;
    case J_STR: jprint_string(out, v->str, v->len); break;
    case J_ARR:
    case J_OBJ:
      fputc(v->type == J_ARR ? '[' : '{', out);
      for (size_t i = 0; i < v->len; i++) {
        if (i) fputc(',', out);
        if (v->type == J_OBJ) { jprint_string(out, v->keys[i], strlen(v->keys[i])); fputc(':', out); }
        jprint(out, v->items[i]);
      }
      fputc(v->type == J_ARR ? ']' : '}', out);
      break;
  }
}

/* All of stdin, NUL-terminated. */
static inline char *read_stdin(size_t *len) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
    n += got;
    if (cap - n - 1 == 0) buf = realloc(buf, cap *= 2);
  }
  if (!buf) { fputs("out of memory\n", stderr); exit(70); }
  buf[n] = 0;
  *len = n;
  return buf;
}

/* The contract input on stdin as a JSON document; exits 2 with the reason when it is not. */
static inline jval *read_input(void) {
  size_t len;
  char *input = read_stdin(&len);
  const char *error;
  jval *doc = jparse(input, len, &error);
  if (!doc) { fprintf(stderr, "input is not JSON: %s\n", error); exit(2); }
  return doc;
}

#endif
