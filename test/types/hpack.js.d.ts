// Minimal types for hpack.js (a dev dependency): an independent HPACK implementation the tests
// check sidegate's decoder and encoder against.
declare module 'hpack.js' {
  interface Field {
    name: string;
    value: string;
    huffman?: boolean;
    incremental?: boolean;
    neverIndex?: boolean;
  }
  interface Compressor {
    write(fields: Field[]): void;
    read(): Buffer | null;
  }
  interface Decompressor {
    write(b: Buffer): void;
    execute(): void;
    read(): { name: string; value: string } | null;
  }
  interface Encoder {
    encodeStr(bytes: number[], huffman: boolean): void;
    render(): Buffer[];
  }
  const hpack: {
    compressor: { create(o: { table: { maxSize: number } }): Compressor };
    decompressor: { create(o: { table: { maxSize: number } }): Decompressor };
    encoder: { create(): Encoder };
    huffman: { encode: [number, number][] };
    'static-table': { table: { name: string; value: string }[] };
  };
  // eslint-disable-next-line no-restricted-syntax -- describes a CommonJS module's export
  export default hpack;
}
