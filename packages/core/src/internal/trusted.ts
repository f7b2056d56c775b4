/**
 * Builds an instance of a `Schema.Class` from fields already known to be valid, without running its parser.
 *
 * A Schema class instance is its prototype plus its fields as own properties: that is what the constructor
 * produces once parsing succeeds. Parsing is most of the engine's own CPU per item (a chat is rebuilt several
 * times per item from parts that were validated when they were made), so the engine's hot paths use this for
 * values they assemble from valid parts. Keys whose value is `undefined` are left out, as the constructor does
 * for optional keys. The chat and row round-trip tests cover that such instances equal constructed ones.
 */
export const trustedMake = <C extends abstract new(...args: any) => any>(
  Class: C,
  fields: NonNullable<ConstructorParameters<C>[0]>
): InstanceType<C> => {
  const instance = Object.create(Class.prototype)
  for (const key in fields) {
    const value = (fields as Record<string, unknown>)[key]
    if (value !== undefined) instance[key] = value
  }
  return instance
}
