/**
 * The running ytempire's version, as `--version`, /health and /api/v1/status report it.
 *
 * @since 0.1.0
 */

/**
 * The version of the ytempire packages.
 *
 * @category constants
 */
export const version = "0.1.0"
