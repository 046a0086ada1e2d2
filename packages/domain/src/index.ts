/**
 * The ytempire domain: the vocabulary shared by the library, the server and every client.
 *
 * @since 0.1.0
 */
export * as Ids from "./Ids.ts"
