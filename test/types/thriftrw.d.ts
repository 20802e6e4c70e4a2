// Minimal types for thriftrw (arrives with the Jaeger exporter), used to decode what it sends.
declare module 'thriftrw' {
  interface ThriftType {
    fromBuffer(b: Buffer): unknown;
  }
  interface ThriftCtor {
    new (opts: { source: string; allowOptionalArguments?: boolean }): { getType(name: string): ThriftType };
  }
  const thriftrw: { Thrift: ThriftCtor };
  // eslint-disable-next-line no-restricted-syntax -- describes a CommonJS module's export
  export default thriftrw;
}
