using CpsLedger.Api.Accounts;
using CpsLedger.Api.Products;
using CpsLedger.Api.Tiers;
using JasperFx;
using Marten;
using Marten.Exceptions;
using MimeKit;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Membership;

/// <summary>
/// "Look at this account's points and the invitation again." Forwarded by Marten from every points event after it commits
/// (see <see cref="MembershipRegistration"/>), so no command has to remember to ask.
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

[Platform.SystemActor("invitation-policy")]
public static class ReviewInvitationHandler
{
    // Two reviews of one account racing: the second append fails on the stream version and is retried, and then sees the
    // first one's invitation. That is what makes the invitation happen exactly once.
    public static void Configure(HandlerChain chain) =>
        chain.OnException<ConcurrencyException>().Or<ExistingStreamIdCollisionException>()
            .RetryWithCooldown(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(250),
                TimeSpan.FromSeconds(1));

    public static async Task<OutgoingMessages> Handle(ReviewInvitation message, IDocumentSession session, TimeProvider clock,
        CancellationToken ct)
    {
        // Everything the review reads, in one round trip: it runs after every allocation, removal and adjustment.
        var batch = session.CreateBatchQuery();
        var fetched = batch.Events.FetchForWriting<AccountMembership>(MembershipStream.For(message.AccountId));
        var sources = AccountPoints.LoadIn(batch, message.AccountId);
        var tierTable = batch.Load<TierTableView>(TierTableStream.Id);
        await batch.Execute(ct);

        var stream = await fetched;
        var summary = AccountPoints.Summarize(message.AccountId, await sources);
        var table = await tierTable ?? throw new InvalidOperationException("The tier table has not been loaded.");

        var decided = InvitationPolicy.Decide(stream.Aggregate, message.AccountId, summary.PointsTotal, table, Guid.CreateVersion7(),
            clock.GetUtcNow());
        if (decided is null)
            return [];

        stream.AppendOne(decided);
        return decided is InvitationIssued issued ? [new SendInvitationEmail(issued.AccountId, issued.InvitationId)] : [];
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
