/**
 * Opaque cursors for keyset pagination: the position after the last item of a page (its sort key), as
 * base64url JSON tagged with the list it belongs to, so that a cursor of one list is refused by another. A
 * cursor that does not decode is an InvalidRequest naming the field `cursor`.
 */
import { Errors } from "@ytempire/domain"
import { Effect, Schema } from "effect"

/** A cursor codec for positions of type `S["Type"]`, tagged `tag`. */
export const make = <S extends Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }>(
  tag: string,
  position: S
) => {
  const schema = Schema.StringFromBase64Url.pipe(
    Schema.decodeTo(Schema.fromJsonString(Schema.Tuple([Schema.Literal(tag), position])))
  )
  const encode = Schema.encodeSync(schema)
  const decode = Schema.decodeUnknownEffect(schema)
  return {
    /** The cursor of a position. */
    // (The tuple's type, generic in `S`, is not one TypeScript relates to `[string, S["Type"]]`.)
    encode: (value: S["Type"]): string => encode([tag, value] as never),
    /** The position of a cursor; InvalidRequest (field `cursor`) for anything this codec did not make. */
    decode: (cursor: string): Effect.Effect<S["Type"], Errors.InvalidRequest> =>
      decode(cursor).pipe(
        Effect.map(([, value]) => value),
        Effect.mapError(() =>
          new Errors.InvalidRequest({
            message: "cursor is not a cursor of this list: pass the nextCursor of a previous page",
            field: "cursor"
          })
        )
      )
  }
}
