/** The reference workflow's activities: each does nothing, so only Temporal's work is measured. */
export async function step(_name: string): Promise<void> {}
