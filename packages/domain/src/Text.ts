/**
 * Checks shared by the free text that users send (names, niches, styles, topics, key names).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

// C0 controls other than tab, line feed and carriage return, and DEL. NUL in particular: Postgres refuses it in
// text and jsonb, so a value holding one could be accepted and then fail to be stored.
const controlCharacter = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/

/**
 * Refuses control characters (other than tab and line breaks) in the field named `field`.
 *
 * @category checks
 */
export const noControlCharacters = (field: string) =>
  Schema.makeFilter((text: string) =>
    controlCharacter.test(text) ? `${field} must not contain control characters` : undefined
  )
