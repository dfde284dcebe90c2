/* text-stats: a Hermes example agent. Reads the contract input from stdin
 *   {"intent": "...", "context": {"text": "...", "top": 5}}
 * and writes statistics about context.text (or the intent when there is no text):
 *   {"characters":..,"bytes":..,"words":..,"unique_words":..,"lines":..,"sentences":..,
 *    "average_word_length":..,"top_words":[{"word":"..","count":..},..]}
 * Words are runs of letters, digits and apostrophes, compared case-insensitively (ASCII). */
#include "../common/json.h"
#include <ctype.h>

typedef struct { char *word; size_t count; } entry;
typedef struct { entry *slots; size_t cap, used; } table;

static unsigned long hash(const char *s) {
  unsigned long h = 5381;
  while (*s) h = h * 33 + (unsigned char)*s++;
  return h;
}

static void grow(table *t);

static void count_word(table *t, const char *w) {
  if ((t->used + 1) * 2 > t->cap) grow(t);
  size_t i = hash(w) & (t->cap - 1);
  while (t->slots[i].word) {
    if (!strcmp(t->slots[i].word, w)) { t->slots[i].count++; return; }
    i = (i + 1) & (t->cap - 1);
  }
  t->slots[i].word = strdup(w);
  t->slots[i].count = 1;
  t->used++;
}

static void grow(table *t) {
  table bigger = { calloc(t->cap ? t->cap * 2 : 64, sizeof(entry)), t->cap ? t->cap * 2 : 64, 0 };
  if (!bigger.slots) { fputs("out of memory\n", stderr); exit(70); }
  for (size_t i = 0; i < t->cap; i++)
    if (t->slots[i].word) {
      size_t j = hash(t->slots[i].word) & (bigger.cap - 1);
      while (bigger.slots[j].word) j = (j + 1) & (bigger.cap - 1);
      bigger.slots[j] = t->slots[i];
      bigger.used++;
    }
  free(t->slots);
  *t = bigger;
}

static int by_count(const void *a, const void *b) {
  const entry *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->word, y->word);
}

static int is_word_char(unsigned char c) { return isalnum(c) || c == '\'' || c >= 0x80; }

int main(void) {
  jval *doc = read_input();
  jval *context = jget(doc, "context");
  jval *text = jget(context, "text");
  if (!text || text->type != J_STR) text = jget(doc, "intent");
  if (!text || text->type != J_STR) { fputs("need context.text or intent as a string\n", stderr); return 2; }
  jval *top_v = jget(context, "top");
  size_t top = top_v && top_v->type == J_NUM && top_v->num >= 0 ? (size_t)top_v->num : 5;

  const char *s = text->str;
  size_t n = text->len, chars = 0, words = 0, letters = 0, lines = n ? 1 : 0, sentences = 0;
  table t = { 0 };
  char word[256];
  size_t wl = 0;
  for (size_t i = 0; i <= n; i++) {
    unsigned char c = i < n ? (unsigned char)s[i] : 0;
    if (i < n && (c & 0xC0) != 0x80) chars++; /* count UTF-8 code points */
    if (c == '\n') lines++;
    if ((c == '.' || c == '!' || c == '?') && (i + 1 == n || isspace((unsigned char)s[i + 1]))) sentences++;
    if (i < n && is_word_char(c)) {
      if (wl < sizeof word - 1) word[wl++] = (char)tolower(c);
      letters++;
    } else if (wl) {
      word[wl] = 0;
      words++;
      count_word(&t, word);
      wl = 0;
    }
  }
  if (words && !sentences) sentences = 1;

  entry *all = malloc((t.used ? t.used : 1) * sizeof(entry));
  size_t k = 0;
  for (size_t i = 0; i < t.cap; i++) if (t.slots[i].word) all[k++] = t.slots[i];
  qsort(all, k, sizeof(entry), by_count);

  printf("{\"characters\":%zu,\"bytes\":%zu,\"words\":%zu,\"unique_words\":%zu,\"lines\":%zu,"
         "\"sentences\":%zu,\"average_word_length\":%.2f,\"top_words\":[",
         chars, n, words, t.used, lines, sentences, words ? (double)letters / (double)words : 0.0);
  for (size_t i = 0; i < k && i < top; i++) {
    if (i) putchar(',');
    printf("{\"word\":");
    jprint_string(stdout, all[i].word, strlen(all[i].word));
    printf(",\"count\":%zu}", all[i].count);
  }
  puts("]}");
  return 0;
}
