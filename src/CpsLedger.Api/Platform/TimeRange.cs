using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The <c>from</c>/<c>to</c> pair every list filtered by time takes: from inclusive, to exclusive. The history also takes
/// <c>through</c>, an inclusive end, the moment as time travel reads it, and so does the support overrides list.
/// </summary>
public static class TimeRange
{
    /// <summary>
    /// A moment as stored timestamps hold it: PostgreSQL keeps microseconds, and a moment given to the tick (100 ns) is rounded to
    /// the nearest microsecond, as PostgreSQL rounds a timestamp it reads. Time travel's cut and every <c>through</c> (the history's,
    /// the support overrides') compare this, so that they take the same events at the same moment. A moment in the last half
    /// microsecond of 9999 would round past the largest one .NET holds: it is that year's last microsecond, later than every event.
    /// </summary>
    public static DateTimeOffset ToStoredPrecision(DateTimeOffset moment) =>
        new(Math.Min((moment.UtcTicks + 5) / 10 * 10, LastMicrosecondTicks), TimeSpan.Zero);

    private static readonly long LastMicrosecondTicks = DateTime.MaxValue.Ticks / 10 * 10;

    /// <summary>
    /// The range of a list that takes both ends (the history, the support overrides): <c>to</c> or <c>through</c>, not both (a 400
    /// on <c>through</c>), and from not later than either (<see cref="Check(DateTimeOffset?, DateTimeOffset?)"/>, <see cref="CheckThrough"/>).
    /// </summary>
    public static ProblemDetails Check(DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset? through)
    {
        if (to is not null && through is not null)
            return Problems.Invalid("through", "Give to (before the moment, not included) or through (up to and including the moment, as time " +
                                               "travel's timestamp), not both.");
        return Check(from, to) is HttpValidationProblemDetails range ? range : CheckThrough(from, through);
    }

    /// <summary>As <see cref="Check(DateTimeOffset?, DateTimeOffset?)"/>, for the inclusive end <c>through</c>.</summary>
    public static ProblemDetails CheckThrough(DateTimeOffset? from, DateTimeOffset? through) =>
        from is { } f && through is { } t && f > t
            ? Problems.Invalid("from", string.Create(CultureInfo.InvariantCulture,
                $"from ({Utc(f)}) is later than through ({Utc(t)}): the range is from (inclusive) through through (inclusive), so from must not be later than through."))
            : WolverineContinue.NoProblems;

    /// <summary>
    /// Both given and from later than to: a 400 on <c>from</c> that says the range, never an empty page read as "nothing
    /// happened then". One end alone, or from equal to to, is read as before.
    /// </summary>
    public static ProblemDetails Check(DateTimeOffset? from, DateTimeOffset? to) =>
        from is { } f && to is { } t && f > t
            ? Problems.Invalid("from", string.Create(CultureInfo.InvariantCulture,
                $"from ({Utc(f)}) is later than to ({Utc(t)}): the range is from (inclusive) to to (exclusive), so from must not be later than to."))
            : WolverineContinue.NoProblems;

    private static string Utc(DateTimeOffset moment) =>
        moment.ToUniversalTime().ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
}
