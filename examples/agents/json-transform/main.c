/* json-transform: a Hermes example agent. Reads the contract input from stdin
 *   {"intent": "...", "context": {"data": <any JSON>, "pick": ["a", "b"],
 *                                "rename": {"a": "alpha"}, "sort_keys": true}}
 * and writes context.data transformed, compactly: `pick` keeps only those top-level keys
 * (in the order given), `rename` renames top-level keys, `sort_keys` sorts every object's
 * keys recursively. Each step is optional; with none the data is just canonicalised.
 * Exits 2 with a message on stderr when the input is not usable. */
#include "../common/json.h"


static void sort_keys(jval *v) {
  if (v->type != J_OBJ && v->type != J_ARR) return;
  for (size_t i = 0; i < v->len; i++) sort_keys(v->items[i]);
  if (v->type != J_OBJ) return;
  /* insertion sort keeps it stable and dependency-free */
  for (size_t i = 1; i < v->len; i++) {
    char *k = v->keys[i];
    jval *it = v->items[i];
    size_t j = i;
    while (j > 0 && strcmp(v->keys[j - 1], k) > 0) {
      v->keys[j] = v->keys[j - 1];
      v->items[j] = v->items[j - 1];
      j--;
    }
    v->keys[j] = k;
    v->items[j] = it;
  }
}

static jval *pick(const jval *data, const jval *keys) {
  jval *out = jnew(J_OBJ);
  for (size_t i = 0; i < keys->len; i++) {
    const jval *k = keys->items[i];
    if (k->type != J_STR) continue;
    jval *found = jget(data, k->str);
    if (found) jpush(out, strdup(k->str), found);
  }
  return out;
}

static void rename_keys(jval *data, const jval *renames) {
  for (size_t i = 0; i < data->len; i++) {
    jval *to = jget(renames, data->keys[i]);
    if (to && to->type == J_STR) data->keys[i] = strdup(to->str);
  }
}

int main(void) {
  jval *doc = read_input();
  jval *context = jget(doc, "context");
  jval *data = jget(context, "data");
  if (!data) { fputs("context.data is required\n", stderr); return 2; }

  jval *keys = jget(context, "pick");
  if (keys) {
    if (keys->type != J_ARR || data->type != J_OBJ) { fputs("pick needs an array and object data\n", stderr); return 2; }
    data = pick(data, keys);
  }
  jval *renames = jget(context, "rename");
  if (renames) {
    if (renames->type != J_OBJ || data->type != J_OBJ) { fputs("rename needs an object and object data\n", stderr); return 2; }
    rename_keys(data, renames);
  }
  jval *sort = jget(context, "sort_keys");
  if (sort && sort->type == J_BOOL && sort->boolean) sort_keys(data);

  jprint(stdout, data);
  putchar('\n');
  return 0;
}
