/**
 * Checks shared by the free text that users send (names, niches, styles, topics, key names).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

// C0 controls other than tab, line feed and carriage return, and DEL. NUL in particular: Postgres refuses it in
// text and jsonb, so a value holding one could be accepted and then fail to be stored.
const hasControlCharacter = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if ((code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || code === 0x7f) return true
  }
  return false
}

/**
 * Refuses control characters (other than tab and line breaks) in the field named `field`.
 *
 * @category checks
 */
export const noControlCharacters = (field: string) =>
  Schema.makeFilter((text: string) =>
    hasControlCharacter(text) ? `${field} must not contain control characters` : undefined
  )
