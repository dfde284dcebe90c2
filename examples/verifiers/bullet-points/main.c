/* bullet-points: a Hermes example verifier (acceptance checks). Reads
 *   {"contract": {"context": {"bullet_points": 3, ...}, ...},
 *    "delivery": {"output": "- one\n- two\n- three", ...}}
 * from stdin and passes (exit 0) when the output has exactly `bullet_points` bullet points
 * (3 when the contract does not say): lines that start, after any indentation, with "- ",
 * "* " or "• ". The output is the delivery's text: a JSON string, or an object's "summary" or
 * "text" string. Anything else fails (exit 1). stdout is the report. */
#include "../../agents/common/json.h"

static int is_bullet(const char *line, const char *end) {
  while (line < end && (*line == ' ' || *line == '\t')) line++;
  if (end - line >= 2 && (line[0] == '-' || line[0] == '*') && line[1] == ' ') return 1;
  /* U+2022 BULLET is E2 80 A2 in UTF-8 */
  return end - line >= 4 && (unsigned char)line[0] == 0xE2 && (unsigned char)line[1] == 0x80 && (unsigned char)line[2] == 0xA2 && line[3] == ' ';
}

int main(void) {
  jval *doc = read_input();
  jval *want_v = jget(jget(jget(doc, "contract"), "context"), "bullet_points");
  long want = want_v && want_v->type == J_NUM ? (long)want_v->num : 3;

  jval *output = jget(jget(doc, "delivery"), "output");
  jval *text = output;
  if (text && text->type == J_OBJ) text = jget(output, "summary") ? jget(output, "summary") : jget(output, "text");
  if (!text || text->type != J_STR) {
    puts("the output has no text: send a string, or an object with a \"summary\" or \"text\" string");
    return 1;
  }

  long found = 0;
  const char *p = text->str, *end = text->str + text->len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    found += is_bullet(p, eol);
    p = eol + 1;
  }
  printf("found %ld bullet point%s, want %ld\n", found, found == 1 ? "" : "s", want);
  return found == want ? 0 : 1;
}
