// Every workflow the main worker runs.
export { contractWorkflow } from './contract';
export { taskWorkflow } from './task';
export { paymentReversalWorkflow } from './payment-reversal';
export { withdrawalWorkflow } from './withdrawal';
export { trustRecomputeWorkflow } from './trust-recompute';
