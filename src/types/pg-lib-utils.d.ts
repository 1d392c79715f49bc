// The one function of pg's internals this project uses: how pg itself turns a parameter
// (array, Date, Buffer, object) into wire text. pg-cursor imports it the same way.
declare module 'pg/lib/utils.js' {
  const utils: { prepareValue(value: unknown): unknown };
  export default utils;
}
