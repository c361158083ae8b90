/**
 * The one contract between the lab's parts, shared by the host, the engine process, the CLI
 * and the renderer: a field renamed here is renamed everywhere or fails to compile.
 *   knobs.ts     the knob catalogue (one row per knob) and the profile shape derived from it
 *   profile.ts   the tuning profile schema (versioned)
 *   run.ts       RunFrame, Phase, RunSummary, run status and events, the doctor's report
 *   labApi.ts    the LabApi method table, from which the API type and every transport derive
 *   errors.ts    errors as data {code, kind, message, field?, fix?} and their one-line text
 *   histogram.ts the latency histogram layout and percentile maths
 *   history.ts   saved runs on disk and the history methods' params and results
 *   kernel.ts    eBPF probe statuses, RunFrame.kernel and the kernel aggregates of a summary
 *   bufferPool.ts a buffer pool against the CPU's last-level cache (the cold-pool warning)
 *   connectionService.ts how evenly the load's connections were served
 */
export * from './errors';
export * from './histogram';
export * from './kernel';
export * from './diagnose';
export * from './knobs';
export * from './profile';
export * from './run';
export * from './cpuList';
export * from './events';
export * from './ab';
export * from './runStats';
export * from './labApi';
export * from './labMethods';
export * from './history';
export * from './bufferPool';
export * from './connectionService';
