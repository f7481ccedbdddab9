'use strict';
// Node 20 adds Symbol.dispose / Symbol.asyncDispose to its main context only; jest 29 runs each test file
// in a fresh vm context without them. Define them there, so `using` and the classes' [Symbol.dispose]
// methods see one and the same symbol within a test file.
for (const name of ['dispose', 'asyncDispose']) {
  if (typeof Symbol[name] !== 'symbol') {
    Object.defineProperty(Symbol, name, { value: Symbol(`Symbol.${name}`), configurable: false, writable: false });
  }
}
