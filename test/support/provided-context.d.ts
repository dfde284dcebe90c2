import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    workflowBundlePath: string;
  }
}
