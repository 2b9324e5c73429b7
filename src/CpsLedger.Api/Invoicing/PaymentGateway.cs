using System.Collections.Concurrent;

namespace CpsLedger.Api.Invoicing;

/// <summary>A charge as the gateway receives it. The idempotency key identifies one attempt: repeating it never charges twice.</summary>
public sealed record ChargeRequest(string IdempotencyKey, string CardToken, decimal Amount, string Currency, string Description);

public sealed record ChargeResult(ChargeOutcome Outcome, string? GatewayReference, string? Reason);

/// <summary>What the provider holds for an idempotency key: the outcome of the charge presented with it, and what it was for.</summary>
public sealed record FoundCharge(ChargeOutcome Outcome, decimal Amount, string Currency, string? GatewayReference, string? Reason);

/// <summary>A card-form token to keep as the account's card at the provider.</summary>
public sealed record SaveCardRequest(Guid AccountId, string CardToken);

/// <summary>
/// The provider's answer: the reusable reference to charge later and what may be shown of the card (brand, last four digits,
/// expiry; never the number), or why it refused the token.
/// </summary>
public sealed record SavedCard(bool Accepted, string? PaymentMethodReference, string? Brand, string? Last4, int? ExpiryMonth, int? ExpiryYear,
    string? Reason);

/// <summary>
/// The payment-gateway port. Implementations must honour the idempotency key the way payment providers do: a request
/// with a key seen before returns the first request's result and charges nothing more. An exception means "outcome
/// unknown"; the caller retries with the same key.
/// </summary>
public interface IPaymentGateway
{
    /// <param name="request">Its <see cref="ChargeRequest.CardToken"/> is the saved card's reference (or, for cards recorded before cards
    /// were saved, the card-form token).</param>
    Task<ChargeResult> ChargeAsync(ChargeRequest request, CancellationToken ct);

    /// <summary>
    /// What the provider holds for <paramref name="idempotencyKey"/>, or null when no charge was ever presented with it; never charges.
    /// The card charge asks when an attempt whose outcome was unknown (a lost or late answer) finds the invoice settled another way in
    /// the meantime: had the provider charged, the ledger records the money. An adapter finds the payment by the key it charged with
    /// (providers search payments by the caller's own reference or metadata: the adapter puts the key there when it charges), for as
    /// long as the card charge retries an attempt. An exception means "not known": the caller retries.
    /// </summary>
    Task<FoundCharge?> FindChargeAsync(string idempotencyKey, CancellationToken ct);

    /// <summary>Keeps a card-form token as a reusable card (as providers' "payment methods" do) and describes it.</summary>
    Task<SavedCard> SaveCardAsync(SaveCardRequest request, CancellationToken ct);
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

    /// <summary>
    /// Approved and charged, but the first answer takes <see cref="SlowAnswer"/>, longer than any gateway timeout the service allows
    /// (Invoicing:GatewayTimeout): the caller gives up, and a repeat of the key answers at once with the first result.
    /// </summary>
    public const string ApproveSlow = "tok_sandbox_approve_slow";

    public static readonly TimeSpan SlowAnswer = TimeSpan.FromMinutes(1);

    public static readonly IReadOnlyList<string> Tokens = [Approve, Decline, Error, ApproveResponseLost, ApproveSlow];

    private readonly ConcurrentDictionary<string, (ChargeRequest Request, ChargeResult Result)> _byKey = new();
    private readonly ConcurrentQueue<ChargeRequest> _charged = new();
    private readonly ConcurrentDictionary<string, bool> _responseLost = new();
    private readonly ConcurrentDictionary<string, bool> _answeredSlowly = new();

    private readonly ConcurrentQueue<string> _lookedUp = new();

    /// <summary>The sandbox's ledger: every charge that moved money, once per charge.</summary>
    public IReadOnlyList<ChargeRequest> Charges => [.. _charged];

    /// <summary>Every key <see cref="FindChargeAsync"/> was asked about, in order (while <see cref="Unreachable"/> too).</summary>
    public IReadOnlyList<string> LookedUp => [.. _lookedUp];

    /// <summary>
    /// While set, every call fails as a provider that cannot be reached does (a refused connection: a transient fault, retried by the
    /// service's policy for hours), and nothing is charged. Tests: a charge that need not ask the gateway completes all the same.
    /// </summary>
    public bool Unreachable
    {
        get => Volatile.Read(ref _unreachable);
        set => Volatile.Write(ref _unreachable, value);
    }

    private bool _unreachable;

    /// <summary>Forget every key and charge (tests: invoice numbers start again at 1 after the ledger is reset).</summary>
    public void Clear()
    {
        _byKey.Clear();
        _charged.Clear();
        _responseLost.Clear();
        _answeredSlowly.Clear();
        _lookedUp.Clear();
        Unreachable = false;
    }

    // The sandbox's test cards, by the token its card form would give (numbers as in providers' test-card tables).
    private static readonly Dictionary<string, (string Brand, string Last4)> TestCards = new(StringComparer.Ordinal)
    {
        [Approve] = ("Visa", "4242"),
        [Decline] = ("Visa", "0002"),
        [Error] = ("Visa", "0119"),
        [ApproveResponseLost] = ("Mastercard", "4444"),
        [ApproveSlow] = ("Visa", "1881"),
    };

    private const string SavedPrefix = "pm_sandbox_";

    /// <summary>
    /// Saves a test card: its reference carries the test behaviour (so it survives a restart of the service, unlike the
    /// idempotency keys) and a hash of the account, never the token itself. Unknown tokens are refused, as providers refuse them.
    /// </summary>
    public Task<SavedCard> SaveCardAsync(SaveCardRequest request, CancellationToken ct)
    {
        ThrowIfUnreachable("saving a card");
        if (!TestCards.TryGetValue(request.CardToken, out var card))
            return Task.FromResult(new SavedCard(false, null, null, null, null, null, "unknown card token (sandbox: tok_sandbox_approve, _decline, _error, _approve_response_lost, _approve_slow)"));
        var behaviour = request.CardToken["tok_sandbox_".Length..];
        var reference = $"{SavedPrefix}{behaviour}_{Platform.DerivedIds.Hashed($"sandbox-card:{request.AccountId:N}:{request.CardToken}"):N}"[..(SavedPrefix.Length + behaviour.Length + 13)];
        return Task.FromResult(new SavedCard(true, reference, card.Brand, card.Last4, 12, 2030, null));
    }

    /// <summary>The test token a saved card's reference was made from (a token itself for cards recorded before cards were saved).</summary>
    private static string TokenOf(string reference) => reference.StartsWith(SavedPrefix, StringComparison.Ordinal)
        ? "tok_sandbox_" + reference[SavedPrefix.Length..reference.LastIndexOf('_')]
        : reference;

    public async Task<ChargeResult> ChargeAsync(ChargeRequest request, CancellationToken ct)
    {
        ThrowIfUnreachable($"charge {request.IdempotencyKey}");
        var token = TokenOf(request.CardToken);
        var (_, result) = _byKey.GetOrAdd(request.IdempotencyKey, _ =>
        {
            var outcome = token switch
            {
                Approve or ApproveResponseLost or ApproveSlow => new ChargeResult(ChargeOutcome.Approved, $"sbx_{Guid.NewGuid():N}", null),
                Decline => new ChargeResult(ChargeOutcome.Declined, null, "card declined (insufficient funds)"),
                Error => new ChargeResult(ChargeOutcome.Error, null, "processing error at the card issuer"),
                _ => new ChargeResult(ChargeOutcome.Declined, null, "unknown card"),
            };
            if (outcome.Outcome == ChargeOutcome.Approved)
                _charged.Enqueue(request);
            logger.LogInformation("Sandbox charge {Key}: {Amount} {Currency} {Outcome}", request.IdempotencyKey, request.Amount,
                request.Currency, outcome.Outcome);
            return (request, outcome);
        });

        if (token == ApproveResponseLost && _responseLost.TryAdd(request.IdempotencyKey, true))
            throw new TimeoutException($"Sandbox: the response to charge {request.IdempotencyKey} was lost (the card was charged).");
        if (token == ApproveSlow && _answeredSlowly.TryAdd(request.IdempotencyKey, true))
            await Task.Delay(SlowAnswer, ct);
        return result;
    }

    /// <summary>What the sandbox remembers of the key, a charge whose answer was lost or slow too (forgotten when the service restarts).</summary>
    public Task<FoundCharge?> FindChargeAsync(string idempotencyKey, CancellationToken ct)
    {
        _lookedUp.Enqueue(idempotencyKey);
        ThrowIfUnreachable($"the lookup of charge {idempotencyKey}");
        return Task.FromResult(_byKey.TryGetValue(idempotencyKey, out var charge)
            ? new FoundCharge(charge.Result.Outcome, charge.Request.Amount, charge.Request.Currency, charge.Result.GatewayReference, charge.Result.Reason)
            : null);
    }

    private void ThrowIfUnreachable(string what)
    {
        if (Unreachable)
            throw new HttpRequestException($"Sandbox: the gateway is unreachable ({what}).",
                new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.ConnectionRefused));
    }
}
