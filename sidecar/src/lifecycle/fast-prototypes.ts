/**
 * Puts String.prototype back into V8's fast (map-based) mode after ioredis has knocked it out.
 *
 * ioredis declares `class VerbatimString extends String` (resp/verbatim-string.js). Making
 * String.prototype the prototype of a new class turns it into a dictionary-mode object, and V8
 * makes a prototype fast again only when an inline cache misses on a *receiver object* whose chain
 * holds it (`JSObject::MakePrototypesFast`). String methods are called on primitive strings, which
 * never trigger that, so it stays in dictionary mode for the life of the process. TurboFan then
 * cannot resolve `str.charCodeAt`, `str.slice`, ... at compile time: every such call in optimized
 * code goes through the generic LoadIC builtin. In a sidecar with tracing at ratio 1.0 that was
 * 14 % of all CPU (perf), most of it in the OTLP serializer, which reads each attribute string
 * character by character twice (`charCodeAt` per character).
 *
 * A few hundred loads through an ordinary object whose prototype is String.prototype make V8 run
 * that miss path (the loop outlasts the function's unallocated-feedback phase). Check with
 * `node --allow-natives-syntax`: `%HasFastProperties(String.prototype)`. Process-wide.
 */
export function restoreFastPrototypes(): void {
  const probe: object = Object.create(String.prototype) as object;
  const load = (o: object): unknown => (o as { valueOf: unknown }).valueOf;
  for (let i = 0; i < 500; i++) load(probe);
}
