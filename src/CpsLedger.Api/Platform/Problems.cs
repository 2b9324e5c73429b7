using System.Diagnostics;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.AspNetCore.Mvc;

namespace CpsLedger.Api.Platform;

/// <summary>The RFC 9457 problem details endpoints answer with, worded once.</summary>
public static class Problems
{
    public static ProblemDetails AccountNotFound => NotFound("Account not found", "There is no business account with this id.");

    public static ProblemDetails NotFound(string title, string detail) =>
        new() { Status = StatusCodes.Status404NotFound, Title = title, Detail = detail };

    /// <summary>An optimistic-concurrency failure: another request changed the same stream or document first. Nothing was written.</summary>
    public static ProblemDetails ConcurrentChange => Conflict("Concurrent change",
        "The data changed while this request was being processed. Read it again and retry.");

    public static ProblemDetails Conflict(string title, string detail) =>
        new() { Status = StatusCodes.Status409Conflict, Title = title, Detail = detail };

    /// <summary>A 400 with one field error, shaped like the validators' (errors keyed by the JSON field name).</summary>
    public static ProblemDetails Invalid(string field, string message) => Invalid(new Dictionary<string, string[]> { [field] = [message] });

    /// <summary>A 400 with its field errors, shaped like the validators' (errors keyed by the JSON field name).</summary>
    public static ProblemDetails Invalid(Dictionary<string, string[]> errors) =>
        new HttpValidationProblemDetails(errors)
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "One or more validation errors occurred.",
        };

    public static async Task Write(HttpContext context, int status, string title, string detail,
        Dictionary<string, string[]>? errors = null)
    {
        context.Response.StatusCode = status;
        var writer = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await writer.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = errors is null
                ? new ProblemDetails { Status = status, Title = title, Detail = detail }
                : new HttpValidationProblemDetails(errors) { Status = status, Title = title, Detail = detail },
        });
    }
}

/// <summary>
/// Every problem the API writes has one shape (the <c>ProblemDetails</c> schema of the OpenAPI document): type, title, status,
/// instance, traceId and correlationId always; detail and errors when there is something to say. Problems written by the
/// framework are completed here too, nothing in one names a .NET type, and none carries a success's <c>Location</c>.
/// </summary>
public static partial class ProblemShape
{
    public static void Complete(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var http = context.HttpContext;
        problem.Status ??= http.Response.StatusCode;
        var status = problem.Status.Value;
        problem.Title ??= ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? phrase : "Error";
        problem.Type ??= TypeOf(status);
        problem.Instance ??= http.Request.Path.Value;
        // An endpoint may have set its success's Location before its commit failed (Wolverine applies a CreationResponse first):
        // a problem never points at what was not created.
        http.Response.Headers.Remove(Microsoft.Net.Http.Headers.HeaderNames.Location);
        // Why a bearer token was refused, as its challenge says (Auth: OnChallenge).
        if (status == StatusCodes.Status401Unauthorized && problem.Detail is null && http.Items[Auth.RefusalItem] is string refusal)
            problem.Detail = refusal;
        // Routing's 415 (an endpoint's accepted types refuse the Content-Type before the request gate runs) says nothing by itself:
        // every endpoint that reads a body reads JSON.
        if (status == StatusCodes.Status415UnsupportedMediaType && problem.Detail is null)
            problem.Detail = RequestGate.JsonOnly;
        // Why the caller may not (Auth: ForbiddenReasons).
        if (status == StatusCodes.Status403Forbidden && problem.Detail is null && http.Items[ForbiddenReasons.Item] is string forbidden)
            problem.Detail = forbidden;
        problem.Extensions.TryAdd("traceId", Activity.Current?.Id ?? http.TraceIdentifier);
        if (CorrelationMiddleware.Of(http) is { } correlationId)
            problem.Extensions["correlationId"] = correlationId;

        // Wolverine's own refusal of a query value (RejectUnparseableQueryValues) names the parameter and a CLR type.
        if (problem.Extensions.Remove("parameter", out var parameter) && parameter is string name)
        {
            problem.Title = "One or more validation errors occurred.";
            problem.Detail = null;
            problem.Extensions["errors"] = new Dictionary<string, string[]> { [name] = ["Has a value that cannot be read."] };
        }

        if (problem.Extensions.Remove("header", out var header) && header is string headerName)
        {
            problem.Title = "One or more validation errors occurred.";
            problem.Detail = null;
            problem.Extensions["errors"] = new Dictionary<string, string[]> { [headerName] = ["Has a value that cannot be read."] };
        }

        if (problem.Detail is { } detail && ClrName().IsMatch(detail))
            problem.Detail = null;
        if (ClrName().IsMatch(problem.Title))
            problem.Title = ReasonPhrases.GetReasonPhrase(status);
    }

    /// <summary>
    /// The document defining a status, for the statuses ASP.NET Core leaves without a type (413, 429, ...): RFC 9457 asks for
    /// a type a client can follow, and about:blank only says "see the status".
    /// </summary>
    private static string TypeOf(int status) => status switch
    {
        StatusCodes.Status429TooManyRequests => "https://tools.ietf.org/html/rfc6585#section-4",
        >= 400 and <= 418 => $"https://tools.ietf.org/html/rfc9110#section-15.5.{status - 399}",
        421 or 422 => $"https://tools.ietf.org/html/rfc9110#section-15.5.{status - 401}",
        426 => "https://tools.ietf.org/html/rfc9110#section-15.5.22",
        >= 500 and <= 505 => $"https://tools.ietf.org/html/rfc9110#section-15.6.{status - 499}",
        _ => "about:blank",
    };

    [System.Text.RegularExpressions.GeneratedRegex(@"\b(System|Microsoft|CpsLedger|Wolverine|Marten|JasperFx|Npgsql|Weasel)\.[A-Za-z]")]
    private static partial System.Text.RegularExpressions.Regex ClrName();
}
