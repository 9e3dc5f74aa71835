// A read-only view of the model that throws on a missing property, so a typo in a
// template (m.servcies.api.port) fails the render instead of writing "undefined".

const PASS_THROUGH = new Set<PropertyKey>(['toJSON', 'then', 'constructor', 'length', 'valueOf', 'toString']);

export function strictView<T extends object>(value: T, path = 'm'): T {
  return new Proxy(value, {
    get(target, key, receiver) {
      const found = Reflect.get(target, key, receiver);
      if (typeof key === 'symbol' || PASS_THROUGH.has(key)) return found;
      if (!Reflect.has(target, key)) {
        throw new Error(`template reads ${path}.${String(key)}, which the stack model does not define`);
      }
      return found !== null && typeof found === 'object' ? strictView(found as object, `${path}.${String(key)}`) : found;
    },
    set() {
      throw new Error('templates must not change the stack model');
    },
  });
}
