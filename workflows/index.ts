// Every workflow the main worker runs.
export { contractWorkflow } from './contract';
export { taskWorkflow } from './task';
