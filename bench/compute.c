/* The sandbox benchmark's compute-heavy workload, compiled three ways (wasmtime sandbox,
 * Node's WebAssembly, native): a sieve of Eratosthenes, a Mandelbrot set and a 64-bit FNV
 * hash loop, sized by argv[1]. Prints a checksum so the three runs can be compared. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t sieve(int n) {
  char *composite = calloc((size_t)n + 1, 1);
  uint64_t sum = 0;
  for (int i = 2; i <= n; i++) {
    if (composite[i]) continue;
    sum += (uint64_t)i;
    for (long long j = (long long)i * i; j <= n; j += i) composite[j] = 1;
  }
  free(composite);
  return sum;
}

static uint64_t mandelbrot(int size, int iterations) {
  uint64_t inside = 0;
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) {
      double cr = 2.0 * x / size - 1.5, ci = 2.0 * y / size - 1.0, zr = 0, zi = 0;
      int i = 0;
      while (i < iterations && zr * zr + zi * zi <= 4.0) {
        double t = zr * zr - zi * zi + cr;
        zi = 2 * zr * zi + ci;
        zr = t;
        i++;
      }
      if (i == iterations) inside++;
    }
  return inside;
}

static uint64_t fnv(int rounds) {
  uint64_t h = 1469598103934665603ULL;
  for (int r = 0; r < rounds; r++)
    for (int b = 0; b < 1024; b++) h = (h ^ (uint64_t)((r + b) & 0xff)) * 1099511628211ULL;
  return h;
}

int main(int argc, char **argv) {
  int scale = argc > 1 ? atoi(argv[1]) : 10;
  uint64_t a = sieve(scale * 1000000), b = mandelbrot(scale * 60, 500), c = fnv(scale * 10000);
  printf("%llu %llu %llu\n", (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
  return 0;
}
