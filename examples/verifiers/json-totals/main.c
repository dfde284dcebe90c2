/* json-totals: a Hermes example verifier (acceptance checks). Reads {"contract": ...,
 * "delivery": {"output": ...}} from stdin and passes (exit 0) when the output is an invoice
 * whose numbers add up:
 *   {"items": [{"name": "...", "amount": 12.5}, ...], "total": 20.0}
 * i.e. every item has a numeric amount and the amounts sum to the total, to the cent. Anything
 * else fails (exit 1), saying which item or sum is wrong. stdout is the report. A contract's
 * output_schema can check the shape first; this checks what a schema cannot: the arithmetic. */
#include "../../agents/common/json.h"
#include <math.h>

static long long cents(double v) { return llround(v * 100.0); }

int main(void) {
  jval *doc = read_input();
  jval *output = jget(jget(doc, "delivery"), "output");
  if (!output || output->type != J_OBJ) { puts("the output is not a JSON object"); return 1; }
  jval *items = jget(output, "items");
  jval *total = jget(output, "total");
  if (!items || items->type != J_ARR) { puts("the output has no \"items\" array"); return 1; }
  if (!total || total->type != J_NUM) { puts("the output has no numeric \"total\""); return 1; }

  long long sum = 0;
  for (size_t i = 0; i < items->len; i++) {
    jval *amount = jget(items->items[i], "amount");
    if (!amount || amount->type != J_NUM) { printf("items[%zu] has no numeric \"amount\"\n", i); return 1; }
    sum += cents(amount->num);
  }
  long long want = cents(total->num);
  if (sum != want) {
    printf("the items add up to %lld.%02lld but total is %lld.%02lld\n", sum / 100, llabs(sum % 100), want / 100, llabs(want % 100));
    return 1;
  }
  printf("%zu item%s add up to the total %lld.%02lld\n", items->len, items->len == 1 ? "" : "s", want / 100, llabs(want % 100));
  return 0;
}
