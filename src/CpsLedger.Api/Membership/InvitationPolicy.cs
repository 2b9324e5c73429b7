using CpsLedger.Api.Accounts;
using CpsLedger.Api.Products;
using CpsLedger.Api.Tiers;
using JasperFx;
using Marten;
using Marten.Exceptions;
using Marten.Services.BatchQuerying;
using MimeKit;
using Wolverine;
using Wolverine.Marten;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Membership;

/// <summary>
/// "Look at this account's points and the invitation again." Forwarded by Marten from every points event after it commits
/// (see <see cref="MembershipSetup"/>), so no command has to remember to ask.
/// </summary>
public sealed record ReviewInvitation(Guid AccountId);

/// <summary>E-mail the account its invitation to join (again, when support resends it: then with the resend's id).</summary>
public sealed record SendInvitationEmail(Guid AccountId, Guid InvitationId, Guid? ResendId = null);

public static class InvitationPolicy
{
    /// <summary>
    /// The policy: invited when allocated points reach the threshold and there is no invitation or membership yet; the
    /// invitation withdrawn when points fall below it before joining. Nothing otherwise, which makes reviewing the same
    /// account any number of times, in any order, harmless.
    /// </summary>
    public static object? Decide(AccountMembership? membership, Guid accountId, int points, TierTableView table, Guid newInvitationId,
        DateTimeOffset now)
    {
        if (membership is not null && membership.IsMemberOn(DateOnly.FromDateTime(now.UtcDateTime)))
            return null;

        var invited = membership?.Invitation is not null;
        if (!invited && points >= table.InvitationThreshold)
            return new InvitationIssued(accountId, newInvitationId, points, table.InvitationThreshold, table.TableVersion, now);
        if (invited && points < table.InvitationThreshold)
            return new InvitationWithdrawn(accountId, membership!.Invitation!.InvitationId, points, table.InvitationThreshold, now);
        return null;
    }
}

/// <summary>What a review reads besides the membership: the account's committed points and the tier table in force.</summary>
public sealed record ReviewInputs(AccountPointsSources Points, TierTableView Table);

/// <summary>
/// Read in the same batched query as the membership stream Wolverine fetches for writing: a review runs after every
/// allocation, removal and adjustment, so it costs one round trip.
/// </summary>
public sealed class ReviewInputsQuery(Guid accountId) : IBatchQueryPlan<ReviewInputs>, IQueryPlan<ReviewInputs>
{
    public async Task<ReviewInputs> Fetch(IBatchedQuery query)
    {
        var sources = AccountPoints.LoadIn(query, accountId);
        var table = query.Load<TierTableView>(TierTableStream.Id);
        return new ReviewInputs(await sources, await table ?? throw new InvalidOperationException("The tier table has not been loaded."));
    }

    public async Task<ReviewInputs> Fetch(IQuerySession session, CancellationToken token)
    {
        var batch = session.CreateBatchQuery();
        var inputs = Fetch(batch);
        await batch.Execute(token);
        return await inputs;
    }
}

[Platform.SystemActor("invitation-policy")]
public static class ReviewInvitationHandler
{
    // Two reviews of one account racing: the second append fails on the stream version and is retried, and then sees the
    // first one's invitation. That is what makes the invitation happen exactly once.
    public static void Configure(HandlerChain chain) =>
        Platform.ErrorPolicy.RetryInPlace(chain, e => e is ConcurrencyException or ExistingStreamIdCollisionException, "a concurrent review",
            TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(1));

    public static Guid MembershipStreamId(ReviewInvitation message) => MembershipStream.For(message.AccountId);

    public static ReviewInputsQuery Load(ReviewInvitation message) => new(message.AccountId);

    public static (Events, OutgoingMessages) Handle(ReviewInvitation message,
        [WriteAggregate(FromMethod = nameof(MembershipStreamId), Required = false)] AccountMembership? membership, ReviewInputs inputs,
        TimeProvider clock)
    {
        var summary = AccountPoints.Summarize(message.AccountId, inputs.Points);
        var decided = InvitationPolicy.Decide(membership, message.AccountId, summary.PointsTotal, inputs.Table, Guid.CreateVersion7(),
            clock.GetUtcNow());
        return decided switch
        {
            null => ([], []),
            InvitationIssued issued => ([issued], [new SendInvitationEmail(issued.AccountId, issued.InvitationId)]),
            _ => ([decided], []),
        };
    }
}

public static class SendInvitationEmailHandler
{
    public static async Task Handle(SendInvitationEmail message, IQuerySession session, Platform.MailDelivery mail, CancellationToken ct)
    {
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(message.AccountId), ct);
        // Withdrawn (or used) before the e-mail went out: an invitation that no longer stands is not announced.
        if (membership?.Invitation?.InvitationId != message.InvitationId)
            return;
        var account = await session.LoadAsync<AccountView>(message.AccountId, ct)
                      ?? throw new InvalidOperationException($"Account {message.AccountId} of invitation {message.InvitationId} is missing.");
        var table = await session.LoadAsync<TierTableView>(TierTableStream.Id, ct);

        await mail.SendAsync(InvitationEmail.Compose(account, membership.Invitation, table, message.ResendId), ct);
    }
}

public static class InvitationEmail
{
    public static MimeMessage Compose(AccountView account, InvitationRecord invitation, TierTableView? table, Guid? resendId = null)
    {
        var standard = table?.Tiers.Where(t => t.Kind == TierKind.Standard && t.PointsRequired <= invitation.Points)
            .OrderBy(t => t.PointsRequired).Select(t => $"  - {t.Name}: {t.AnnualFee:0.00} {t.Currency} a year ({t.PointsRequired} points)")
            .ToList() ?? [];

        var message = new MimeMessage
        {
            // The same invitation always has the same Message-Id, so a redelivery is recognisably the same e-mail; a resend
            // by support is a new e-mail of its own.
            MessageId = resendId is { } resend
                ? $"invitation-{invitation.InvitationId:N}-resent-{resend:N}@cpsledger"
                : $"invitation-{invitation.InvitationId:N}@cpsledger",
            Subject = "You are invited to join Canon Professional Services",
            Body = new TextPart("plain")
            {
                Text = $"""
                        Dear {account.CompanyName},

                        Your business account has {invitation.Points} points from registered products, so you are invited
                        to join Canon Professional Services (CPS).

                        Levels you can choose now:
                        {string.Join("\n", standard)}

                        What to do next:
                          1. Sign in to the CPS portal and open "Available CPS levels".
                          2. Choose a level and a payment method (card or bank transfer).
                          3. Your membership starts at once and you receive your membership number.
                             The invoice follows within a few hours; a card is charged on the invoice due date.

                        This invitation stands while your account has at least {table?.InvitationThreshold ?? 500} points.

                        Canon Professional Services
                        """,
            },
        };
        message.To.Add(new MailboxAddress(account.CompanyName, account.ContactEmail));
        return message;
    }
}
