;; The smallest WASI command: the per-run overhead of the sandbox itself.
(module (memory (export "memory") 1) (func (export "_start")))
