using System.Collections.Concurrent;

namespace CpsLedger.Api.Invoicing;

/// <summary>A charge as the gateway receives it. The idempotency key identifies one attempt: repeating it never charges twice.</summary>
public sealed record ChargeRequest(string IdempotencyKey, string CardToken, decimal Amount, string Currency, string Description);

public sealed record ChargeResult(ChargeOutcome Outcome, string? GatewayReference, string? Reason);

/// <summary>
/// The payment-gateway port. Implementations must honour the idempotency key the way payment providers do: a request
/// with a key seen before returns the first request's result and charges nothing more. An exception means "outcome
/// unknown"; the caller retries with the same key.
/// </summary>
public interface IPaymentGateway
{
    Task<ChargeResult> ChargeAsync(ChargeRequest request, CancellationToken ct);
}

/// <summary>
/// The sandbox adapter (Development and tests), like a provider's test mode: the card token chooses the outcome.
/// It remembers idempotency keys in memory (a real provider keeps them for at least a day; a restart of the service
/// forgets the sandbox's).
/// </summary>
public sealed class SandboxPaymentGateway(ILogger<SandboxPaymentGateway> logger) : IPaymentGateway
{
    public const string Approve = "tok_sandbox_approve";
    public const string Decline = "tok_sandbox_decline";
    public const string Error = "tok_sandbox_error";

    /// <summary>Approved and charged, but the response is lost on the way back (the caller sees a timeout) the first time.</summary>
    public const string ApproveResponseLost = "tok_sandbox_approve_response_lost";

    public static readonly IReadOnlyList<string> Tokens = [Approve, Decline, Error, ApproveResponseLost];

    private readonly ConcurrentDictionary<string, ChargeResult> _byKey = new();
    private readonly ConcurrentQueue<ChargeRequest> _charged = new();
    private readonly ConcurrentDictionary<string, bool> _responseLost = new();

    /// <summary>The sandbox's ledger: every charge that moved money, once per charge.</summary>
    public IReadOnlyList<ChargeRequest> Charges => [.. _charged];

    /// <summary>Forget every key and charge (tests: invoice numbers start again at 1 after the ledger is reset).</summary>
    public void Clear()
    {
        _byKey.Clear();
        _charged.Clear();
        _responseLost.Clear();
    }

    public Task<ChargeResult> ChargeAsync(ChargeRequest request, CancellationToken ct)
    {
        var result = _byKey.GetOrAdd(request.IdempotencyKey, _ =>
        {
            var outcome = request.CardToken switch
            {
                Approve or ApproveResponseLost => new ChargeResult(ChargeOutcome.Approved, $"sbx_{Guid.NewGuid():N}", null),
                Decline => new ChargeResult(ChargeOutcome.Declined, null, "card declined (insufficient funds)"),
                Error => new ChargeResult(ChargeOutcome.Error, null, "processing error at the card issuer"),
                _ => new ChargeResult(ChargeOutcome.Declined, null, "unknown card"),
            };
            if (outcome.Outcome == ChargeOutcome.Approved)
                _charged.Enqueue(request);
            logger.LogInformation("Sandbox charge {Key}: {Amount} {Currency} {Outcome}", request.IdempotencyKey, request.Amount,
                request.Currency, outcome.Outcome);
            return outcome;
        });

        if (request.CardToken == ApproveResponseLost && _responseLost.TryAdd(request.IdempotencyKey, true))
            throw new TimeoutException($"Sandbox: the response to charge {request.IdempotencyKey} was lost (the card was charged).");
        return Task.FromResult(result);
    }
}
