/**
 * Errors that every boundary shares: bad input, missing or wrong credentials, a role that may not, and too
 * many requests. The errors of one concept live with it (ChannelNotFound in Channel, BudgetExceeded in
 * Budget, QuotaExhausted in Quota, ProviderUnavailable and StageTimeout in Provider, GpuRequestTooLarge in
 * GpuJobSpec); all are Schema tagged errors, so they cross RPC and cluster boundaries intact.
 *
 * @since 0.1.0
 */
import { Schema, SchemaIssue } from "effect"

/**
 * The input could not be decoded. `field` is the path of the first offending field (`"schedule.cron"`),
 * absent when the input as a whole is wrong; `message` is the decoder's message.
 *
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  message: Schema.String,
  field: Schema.optionalKey(Schema.String)
}) {
  /**
   * The InvalidRequest for a failed decode, naming the first offending field.
   */
  static fromSchemaError(error: Schema.SchemaError): InvalidRequest {
    const [first] = standardFormatter(error.issue).issues
    const path = (first?.path ?? []).map((key) => String(typeof key === "object" ? key.key : key))
    // The first issue's own message: the full one repeats the path ("… at [\"name\"]"), which `field` names.
    const message = first?.message ?? error.message
    return path.length === 0
      ? new InvalidRequest({ message })
      : new InvalidRequest({ message, field: path.join(".") })
  }
}

const standardFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * No credentials, or credentials that match no key.
 *
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}) {}

/**
 * The caller's role may not do this.
 *
 * @category errors
 */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  message: Schema.String
}) {}

/**
 * Too many requests from this key; try again after `retryAfterSeconds`.
 *
 * @category errors
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  retryAfterSeconds: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
}) {
  /** Worth retrying, after the delay. */
  get isRetryable(): boolean {
    return true
  }
  override get message(): string {
    return `too many requests; retry after ${this.retryAfterSeconds} s`
  }
}
