using Microsoft.AspNetCore.Mvc;

namespace CpsLedger.Api.Platform;

/// <summary>The RFC 9457 problem details endpoints answer with, worded once.</summary>
public static class Problems
{
    public static ProblemDetails AccountNotFound => NotFound("Account not found", "There is no business account with this id.");

    public static ProblemDetails NotFound(string title, string detail) =>
        new() { Status = StatusCodes.Status404NotFound, Title = title, Detail = detail };

    public static ProblemDetails Conflict(string title, string detail) =>
        new() { Status = StatusCodes.Status409Conflict, Title = title, Detail = detail };

    /// <summary>A 400 with one field error, shaped like the validators' (errors keyed by the JSON field name).</summary>
    public static ProblemDetails Invalid(string field, string message) =>
        new HttpValidationProblemDetails(new Dictionary<string, string[]> { [field] = [message] })
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "One or more validation errors occurred.",
        };

    public static async Task Write(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        var writer = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await writer.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}
