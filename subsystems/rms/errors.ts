import { defineError } from '../../core/errors.js';

const fixConfiguration = { fixConfiguration: true };

/** Every error of run management, declared once: code, HTTP status and the operator's message. */
export const rmsErrors = {
  descriptor: defineError(
    'DPC_RMS_DESCRIPTOR',
    400,
    (workflow: string, step: string | undefined, problem: string) =>
      step === undefined ? `workflow "${workflow}": ${problem}` : `workflow "${workflow}", step "${step}": ${problem}`,
    fixConfiguration,
  ),
  cycle: defineError('DPC_RMS_CYCLE', 400, (workflow: string, path: string[]) => `workflow "${workflow}": its steps form a cycle: ${path.join(' → ')}`, fixConfiguration),
  descriptorsModule: defineError('DPC_RMS_DESCRIPTORS_MODULE', 500, (module: string, problem: string) => `rms.descriptors: ${module}: ${problem}`, fixConfiguration),
  unknownDescriptor: defineError('DPC_RMS_UNKNOWN_DESCRIPTOR', 404, (name: string) => `there is no workflow descriptor "${name}" registered`),
  workflowNotFound: defineError('DPC_RMS_WORKFLOW_NOT_FOUND', 404, (id: number) => `workflow ${id} not found`),
  jobNotFound: defineError('DPC_RMS_JOB_NOT_FOUND', 404, (id: number) => `job ${id} not found`),
  solutionNotFound: defineError('DPC_RMS_SOLUTION_NOT_FOUND', 404, (id: number) => `solution ${id} not found`),
  configNotFound: defineError('DPC_RMS_CONFIG_NOT_FOUND', 404, (id: number) => `configuration instance ${id} not found`),
  badParams: defineError('DPC_RMS_PARAMS', 400, (problem: string) => problem),
  badPriority: defineError('DPC_RMS_PRIORITY', 400, (where: string, got: unknown) => `${where}: priority must be a whole number from -1000 to 1000; got ${JSON.stringify(got)}`, fixConfiguration),
  notAllowed: defineError('DPC_RMS_STATE', 409, (what: string, state: string, allowed: string) => `${what} is ${state}; this action needs it ${allowed}`),
};
