/**
 * Cursor pagination for list operations: a caller passes the `nextCursor` of one page to get the next; a page
 * without `nextCursor` is the last. Cursors are opaque strings.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"

/**
 * The most items one page may hold.
 *
 * @category constants
 */
export const maxLimit = 500

/**
 * The fields of a list request: where to start and how many to return (50 unless asked).
 *
 * @category models
 */
export const pageRequestFields = {
  cursor: Schema.optionalKey(
    Schema.String.check(Schema.isMaxLength(512, { message: "cursor must be at most 512 characters" }))
  ),
  limit: Schema.Int.check(
    Schema.isBetween({ minimum: 1, maximum: maxLimit }, { message: `limit must be between 1 and ${maxLimit}` })
  ).pipe(
    Schema.withConstructorDefault(Effect.succeed(50)),
    Schema.withDecodingDefaultKey(Effect.succeed(50))
  )
}

/**
 * A page of items and the cursor of the next page, if there is one.
 *
 * @category constructors
 */
export const Page = <S extends Schema.Top>(item: S) =>
  Schema.Struct({
    items: Schema.Array(item),
    nextCursor: Schema.optionalKey(Schema.String)
  })
