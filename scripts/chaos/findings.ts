// The checks' results: each named check counts its failures and keeps a few examples.
export interface Check {
  name: string;
  /** A wrong answer to a client, as opposed to a broken invariant or a lost contract. */
  wrongAnswer: boolean;
  failures: number;
  examples: string[];
}

export class Findings {
  readonly checks = new Map<string, Check>();

  /** Declares a check, so it is printed (with 0) even when nothing failed. */
  check(name: string, wrongAnswer = false): Check {
    let c = this.checks.get(name);
    if (!c) this.checks.set(name, (c = { name, wrongAnswer, failures: 0, examples: [] }));
    return c;
  }

  fail(name: string, example: string, wrongAnswer = false): void {
    const c = this.check(name, wrongAnswer);
    c.failures++;
    if (c.examples.length < 5) c.examples.push(example);
  }

  get failed(): boolean {
    return [...this.checks.values()].some((c) => c.failures > 0);
  }

  wrongAnswers(): number {
    return [...this.checks.values()].filter((c) => c.wrongAnswer).reduce((s, c) => s + c.failures, 0);
  }
}
