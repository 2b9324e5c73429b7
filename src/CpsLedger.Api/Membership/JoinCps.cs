using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Tiers;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using MimeKit;
using Wolverine;
using Wolverine.Http;

namespace CpsLedger.Api.Membership;

/// <summary>Join CPS: choose an eligible tier and how to pay.</summary>
/// <param name="Tier">A tier code from the eligible tiers, e.g. "gold".</param>
/// <param name="PaymentMethod">card or bank_transfer.</param>
public sealed record JoinCps(string Tier, PaymentMethod PaymentMethod);

public sealed class JoinCpsValidator : AbstractValidator<JoinCps>
{
    public JoinCpsValidator()
    {
        RuleFor(x => x.Tier).NotEmpty().MaximumLength(40);
        RuleFor(x => x.PaymentMethod).IsInEnum();
    }
}

/// <summary>
/// Published when an account joins, through the durable outbox: the welcome e-mail consumes it, and invoicing (a later
/// capability) will too.
/// </summary>
public sealed record MembershipJoined(Guid AccountId, Guid MembershipId, string MembershipNumber);

/// <summary>What the member sees after joining.</summary>
public sealed record MembershipConfirmation(
    Guid MembershipId,
    string MembershipNumber,
    string Tier,
    string TierName,
    decimal AnnualFee,
    string Currency,
    PaymentMethod PaymentMethod,
    DateOnly StartsOn,
    DateOnly EndsOn,
    long TierTableVersion,
    IReadOnlyList<string> PreviousMembershipNumbers);

public static class JoinCpsEndpoint
{
    public const int TermInYears = 1;

    /// <summary>
    /// The decision, made again at the moment of joining: an invitation that stands, no membership in force, and the chosen
    /// tier eligible now. Either the event, or the problem that explains why not.
    /// </summary>
    public static (CpsJoined? Joined, ProblemDetails? Problem) Decide(AccountMembership? membership, EligibleTiers eligibility,
        JoinCps command, Guid membershipId, string membershipNumber, TierTableView table, DateTimeOffset now)
    {
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        if (membership is not null && membership.IsMemberOn(today))
            return (null, Problems.Conflict("Already a member",
                $"This account's {membership.Membership!.TierName} membership ({membership.Membership.MembershipNumber}) runs until " +
                $"{membership.Membership.EndsOn:yyyy-MM-dd}. Changing tier is not possible yet."));
        if (membership?.Invitation is null)
            return (null, Problems.Conflict("Not invited",
                $"An account can join once invited: it needs {table.InvitationThreshold} allocated points and has {eligibility.Points}."));

        var tier = eligibility.Standard.Concat(eligibility.Enterprise)
            .FirstOrDefault(t => string.Equals(t.Code, command.Tier.Trim(), StringComparison.OrdinalIgnoreCase));
        if (tier is null)
            return (null, Problems.Invalid("tier", $"There is no tier \"{command.Tier.Trim()}\". Tiers: " +
                                                   string.Join(", ", table.Tiers.Select(t => t.Code)) + "."));
        if (!tier.Eligible)
            return (null, Problems.Conflict("Tier not eligible", $"{tier.Name} is not available to this account: {tier.WhyNot}."));
        if (membership.MembershipNumbers.Contains(membershipNumber))
            throw new InvalidOperationException($"Membership number {membershipNumber} was issued to this account before.");

        return (new CpsJoined(membership.AccountId, membershipId, membershipNumber, tier.Code, tier.Name, tier.Kind, tier.AnnualFee,
            tier.Currency, command.PaymentMethod, today, today.AddYears(TermInYears).AddDays(-1), table.TableVersion,
            eligibility.Points, eligibility.Products, now), null);
    }

    [WolverinePost("/api/accounts/{accountId}/membership", OperationId = "JoinCps")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [Tags("Membership")]
    [EndpointSummary("Join CPS with an eligible tier and a payment method: active at once, with a new membership number")]
    [RequestExample("""{"tier":"gold","paymentMethod":"card"}""")]
    [ProducesResponseType<MembershipConfirmation>(StatusCodes.Status201Created)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<(IResult, OutgoingMessages)> Post(Guid accountId, JoinCps command, IDocumentSession session,
        TimeProvider clock, CancellationToken ct)
    {
        if (!await AccountLookup.ExistsAsync(session, accountId, ct))
            return (Results.Problem(Problems.AccountNotFound), []);

        var stream = await session.Events.FetchForWriting<AccountMembership>(MembershipStream.For(accountId), ct);
        var table = await session.LoadAsync<TierTableView>(TierTableStream.Id, ct)
                    ?? throw new InvalidOperationException("The tier table has not been loaded.");
        var eligibility = await Eligibility.ForAccountAsync(session, accountId, ct);
        // Taken only when the decision needs it: a sequence value is never handed out twice, even if this request fails.
        var number = "";
        if (stream.Aggregate?.Invitation is not null)
        {
            // A number equal to one the account already had (possible only if an imported old CPS number used the same
            // format) is skipped: the next value is different by construction.
            do number = await NextMembershipNumber(session, ct);
            while (stream.Aggregate.MembershipNumbers.Contains(number));
        }

        var (joined, problem) = Decide(stream.Aggregate, eligibility, command, Guid.CreateVersion7(), number, table, clock.GetUtcNow());
        if (problem is not null)
            return (Results.Problem(problem), []);

        // Copied before appending: Marten projects the new event onto this same aggregate instance when it saves.
        List<string> previousNumbers = [.. stream.Aggregate!.MembershipNumbers];
        stream.AppendOne(joined!);
        session.Insert(new MembershipNumberClaim { Id = joined!.MembershipNumber, AccountId = accountId });
        var confirmation = new MembershipConfirmation(joined.MembershipId, joined.MembershipNumber, joined.TierCode, joined.TierName,
            joined.AnnualFee, joined.Currency, joined.PaymentMethod, joined.StartsOn, joined.EndsOn, joined.TierTableVersion,
            previousNumbers);
        return (Results.Created($"/api/accounts/{accountId}/membership", confirmation),
            [new MembershipJoined(accountId, joined.MembershipId, joined.MembershipNumber)]);
    }

    private static async Task<string> NextMembershipNumber(IDocumentSession session, CancellationToken ct)
    {
        var schema = session.DocumentStore.Options.Events.DatabaseSchemaName;
        var values = await session.QueryAsync<long>($"select nextval('{schema}.{MembershipNumbers.SequenceName}')", ct);
        return MembershipNumbers.FromSequence(values.Single());
    }
}

public static class GetMembershipEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/membership", OperationId = "GetMembership")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [Tags("Membership")]
    [EndpointSummary("Invitation, membership in force (tier, term, number), past memberships and every membership number")]
    [ProducesResponseType<AccountMembership>(StatusCodes.Status200OK)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    public static async Task<IResult> Get(Guid accountId, IQuerySession session, CancellationToken ct)
    {
        if (!await AccountLookup.ExistsAsync(session, accountId, ct))
            return Results.Problem(Problems.AccountNotFound);
        return Results.Ok(await session.LoadAsync<AccountMembership>(MembershipStream.For(accountId), ct)
                          ?? new AccountMembership { Id = MembershipStream.For(accountId), AccountId = accountId });
    }
}

public static class WelcomeEmailHandler
{
    public static async Task Handle(MembershipJoined message, IQuerySession session, MailDelivery mail, CancellationToken ct)
    {
        var account = await session.LoadAsync<AccountView>(message.AccountId, ct)
                      ?? throw new InvalidOperationException($"Account {message.AccountId} is missing.");
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(message.AccountId), ct);
        if (membership?.Membership is not { } term || term.MembershipId != message.MembershipId)
            return;

        var email = new MimeMessage
        {
            MessageId = $"welcome-{message.MembershipId:N}@cpsledger",
            Subject = $"Welcome to Canon Professional Services: membership {term.MembershipNumber}",
            Body = new TextPart("plain")
            {
                Text = $"""
                        Dear {account.CompanyName},

                        Welcome to Canon Professional Services.

                          Membership number: {term.MembershipNumber}
                          Level:             {term.TierName}
                          Term:              {term.StartsOn:yyyy-MM-dd} to {term.EndsOn:yyyy-MM-dd}
                          Annual fee:        {term.AnnualFee:0.00} {term.Currency}
                          Payment:           {(term.PaymentMethod == PaymentMethod.Card ? "card" : "bank transfer")}

                        Your membership is active now. Please quote your membership number when you contact CPS support.
                        Your invoice follows within a few hours.

                        Canon Professional Services
                        """,
            },
        };
        email.To.Add(new MailboxAddress(account.CompanyName, account.ContactEmail));
        await mail.SendAsync(email, ct);
    }
}
