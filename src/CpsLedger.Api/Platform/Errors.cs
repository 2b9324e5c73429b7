using System.Text.Json;
using JasperFx;
using JasperFx.Events;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The last line of defence: exceptions the endpoints did not answer themselves become problem details with the
/// right status. Anything not recognised here is a bug and stays a 500 (logged with its correlation id).
/// </summary>
public sealed class LedgerExceptionHandler(IProblemDetailsService problems, ILogger<LedgerExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var problem = Describe(exception);
        // A request without a body cannot have a malformed one: JSON that could not be read there is stored data (an event
        // edited in the database), the ledger's fault and not the caller's, so it stays a 500 (logged) instead of a 400.
        if (problem is null || (problem.Title == MalformedTitle && !HasBody(context.Request)))
            return false;

        if (exception is Invoicing.MissingSurchargeException missing)
            // Not transient: no Retry-After, and an error for the operator, who alone can add the setting.
            logger.LogError(exception, "Request answered 503: the setting {Setting} is missing", missing.Setting);
        else if (problem.Status == StatusCodes.Status503ServiceUnavailable)
        {
            logger.LogWarning(exception, "Request answered 503: a transient database fault");
            // The retry finds the sequence caught up (EventSequence); nothing of this request was written.
            if (EventSequence.IsBehind(exception))
                await EventSequence.TryCatchUpAsync(context.RequestServices.GetRequiredService<Marten.IDocumentStore>(), logger, CancellationToken.None);
            context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        else
            logger.LogInformation("Request rejected: {Status} {Title}", problem.Status, problem.Title);
        context.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = problem,
            Exception = exception,
        });
    }

    /// <summary>What a client is told to wait before retrying while the database is unavailable (a restart takes seconds).</summary>
    public const int RetryAfterSeconds = 5;

    // Marten reports every failed statement of one batch together; any conflict among them makes the whole a conflict.
    private static ProblemDetails? Describe(Exception exception) => exception is AggregateException aggregate
        ? aggregate.Flatten().InnerExceptions.Select(Describe).FirstOrDefault(p => p?.Status == StatusCodes.Status409Conflict)
          ?? (TransientFaults.IsTransient(aggregate) ? Unavailable : null)
        : exception switch
        {
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => new ProblemDetails
            {
                Status = StatusCodes.Status413PayloadTooLarge,
                Title = "Request body too large",
                Detail = "The request body is larger than this endpoint accepts.",
            },
            BadHttpRequestException { InnerException: JsonException json } => Malformed(json),
            JsonException json => Malformed(json),
            BadHttpRequestException bad => new ProblemDetails
            {
                Status = bad.StatusCode,
                Title = "Bad request",
                Detail = bad.Message,
            },
            AccountNotFoundException => Problems.AccountNotFound,
            // The service's settings lack what the invoice needs: neither the request's fault nor the data's (a 409 would say so), and
            // the same request succeeds once the setting is added and the service restarted.
            Invoicing.MissingSurchargeException missing => new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Setting missing",
                Detail = $"{missing.Message} Nothing was written: send the same request again once the setting is in place.",
            },
            ConcurrencyException => Problems.ConcurrentChange,
            DocumentAlreadyExistsException { DocType: var type } when ConflictDescriptionAttribute.For(type) is { } described =>
                new ProblemDetails
                {
                    Status = StatusCodes.Status409Conflict,
                    Title = described.Title,
                    Detail = described.Detail,
                },
            DuplicateNaturalKeyException or DocumentAlreadyExistsException or Marten.Exceptions.ExistingStreamIdCollisionException => new ProblemDetails
            {
                Status = StatusCodes.Status409Conflict,
                Title = "Already exists",
                Detail = "Something this request would create already exists.",
            },
            // The database restarting, unreachable or refusing connections for now: the client retries, the service recovers by itself.
            _ when TransientFaults.IsTransient(exception) => Unavailable,
            _ => null,
        };

    private static ProblemDetails Unavailable => new()
    {
        Status = StatusCodes.Status503ServiceUnavailable,
        Title = "Temporarily unavailable",
        Detail = $"The ledger's database cannot be reached or is recovering from a restart at the moment. Retry after {RetryAfterSeconds} seconds with the same " +
                 "Idempotency-Key: a request that was recorded is answered with its first response, one that was not is applied once.",
    };

    private const string MalformedTitle = "Malformed request body";

    private static bool HasBody(HttpRequest request) =>
        request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0;

    private static ProblemDetails Malformed(JsonException json) => new()
    {
        Status = StatusCodes.Status400BadRequest,
        Title = MalformedTitle,
        Detail = json.Path is { Length: > 0 } path
            ? $"The JSON body could not be read at '{path}': expected a value of another type or shape."
            : "The request body is not valid JSON.",
    };
}

/// <summary>
/// Refuses a body larger than <c>Ledger:MaxRequestBodyBytes</c> before anything reads it. Kestrel enforces the same
/// limit while streaming (for bodies without a Content-Length); this makes the answer a 413 problem on every server.
/// </summary>
public sealed class RequestSizeLimitMiddleware(RequestDelegate next, IConfiguration configuration)
{
    private readonly long _max = configuration.GetValue<long>("Ledger:MaxRequestBodyBytes", 1024 * 1024);

    public async Task InvokeAsync(HttpContext context)
    {
        // Only a command's body is ever read; a GET with a body is answered as if it had none.
        if (context.Request.ContentLength > _max && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            await Problems.Write(context, StatusCodes.Status413PayloadTooLarge, "Request body too large",
                $"The request body is {context.Request.ContentLength} bytes; at most {_max} are accepted.");
            return;
        }

        await next(context);
    }
}

/// <summary>
/// What a 409 says when inserting this document type hits its primary key: the document stands for a claim on something
/// unique (a serial number), and the feature that owns it words the conflict. The message never names the other owner.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ConflictDescriptionAttribute(string title, string detail) : Attribute
{
    public string Title { get; } = title;
    public string Detail { get; } = detail;

    public static ConflictDescriptionAttribute? For(Type? documentType) =>
        documentType?.GetCustomAttributes(typeof(ConflictDescriptionAttribute), inherit: false).OfType<ConflictDescriptionAttribute>().FirstOrDefault();
}
