using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Platform;

/// <summary>The <c>from</c>/<c>to</c> pair every list filtered by time takes: from inclusive, to exclusive.</summary>
public static class TimeRange
{
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
