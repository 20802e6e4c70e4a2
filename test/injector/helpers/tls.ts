// One certificate maker for every test: test/helpers/tls.ts.
export { makeCert, type TestCert } from '../../helpers/tls.js';
