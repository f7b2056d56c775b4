/**
 * Constructor options for Schema class instances built from parts already known to be valid (sums of valid counts,
 * a chat rebuilt from its own fields, wire data a schema has decoded): the classes' checks are not run again on the
 * engine's hot paths. Types are still parsed by the public constructor.
 *
 * @internal
 */
export const trusted = { disableChecks: true } as const
