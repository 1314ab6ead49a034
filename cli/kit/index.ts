/**
 * The CLI kit: what every berth command uses to read its arguments and print its output the way
 * Docker does. See each module's opening comment for vocabulary and behaviour.
 * - args: flag parsing (pflag rules), help text, global flags;
 * - format: `--format` Go-template subset and list output (table / json / template / quiet);
 * - table: tabwriter alignment, human sizes and durations, short ids;
 * - progress: pull/push/build progress lines;
 * - each: commands over several names that go on past a failure.
 */
export * from './args';
export * from './format';
export * from './table';
export * from './progress';
export * from './each';
