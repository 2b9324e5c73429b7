using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Api.Support;
using JasperFx.Events;
using Marten;
using Marten.Events;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Wolverine.Http;

namespace CpsLedger.Api.Audit;

/// <summary>One event in an account's history, with who, when, why and what it means in words.</summary>
/// <param name="Commit">The commit (transaction) that wrote it: the events of one commit stood or fell together, and time travel
/// to any of their sequences shows them all. Null for an event stored before events carried their commit.</param>
/// <param name="By">The actor: the person (a token's <c>sub</c>), or the ledger itself (<c>system:...</c>) for what a policy,
/// a scheduled or a cascaded handler did; for the account's member, a member of staff's role instead of the name
/// (<see cref="StaffNames"/>).</param>
/// <param name="Role">The role(s) the person in <paramref name="By"/> acted in, as recorded (<see cref="ActorRoles"/>); null for the
/// ledger's own actions and events stored before roles were recorded.</param>
/// <param name="CausedBy">For the ledger's own actions: the person whose request set them off and that request's correlation id.
/// Null for a person's action, and for events stored before the ledger named itself (their <paramref name="By"/> is the
/// relayed user).</param>
/// <param name="Reason">Why, as the person who did it wrote it for the audit trail (support's reason, finance's). Support's reasons
/// may be internal notes: shown to support and auditors only, null in a member's own history (whose description then says that
/// CPS support made the change, without the reason).</param>
/// <param name="TicketReference">The support ticket a support action answers (the member's own ticket): shown to every reader.</param>
/// <param name="Sequence">The event's position in the whole ledger: entries are in this order; time travel (<c>as-of</c>) takes
/// it.</param>
/// <param name="EventId">The event's id.</param>
/// <param name="StreamId">The id of the stream the event belongs to (the account, a registration, the membership, an invoice,
/// ...).</param>
/// <param name="Stream">What that stream is to the account.</param>
/// <param name="Version">The event's position in its own stream, from 1.</param>
/// <param name="Type">The event's name, e.g. <c>product_registered</c>: what the <c>types</c> filter takes.</param>
/// <param name="At">When the event was recorded, UTC.</param>
/// <param name="CorrelationId">The correlation id of the request that wrote it (its X-Correlation-Id, or the trace id).</param>
/// <param name="CausationId">The id of the message or request that caused it, when recorded; null otherwise.</param>
/// <param name="Description">What happened, in one sentence for a person.</param>
/// <param name="Data">The event's own data as recorded (its members differ by <c>type</c>); a member's own history leaves out
/// support's reason.</param>
public sealed record HistoryEntry(
    long Sequence,
    Guid? Commit,
    Guid EventId,
    Guid StreamId,
    AccountStreamKind Stream,
    long Version,
    string Type,
    DateTimeOffset At,
    // Said of the history's readers (member, support, auditor): a points line's by is read by finance and the portal too.
    [property: System.ComponentModel.Description("Who: a person (a token's sub), or the ledger itself (system:...). Support and auditors read the " +
                                                 "user name as recorded; the account's member, the history's only other reader, reads the role " +
                                                 "staff acted in instead (\"CPS support\", \"CPS finance\", \"CPS operations\" for an " +
                                                 "operator's command, \"CPS staff\" for a request in more than one staff role), and its own " +
                                                 "name, the portal's and the ledger's as they are.")]
    string? By,
    [property: System.ComponentModel.Description("The role(s) the person in by acted in, as recorded when they made the change (e.g. " +
                                                 "\"member\", \"portal\", \"support\", \"finance\", \"operator\"; comma-separated where " +
                                                 "the route admitted them by more than one); the same for every reader. Null for the ledger's " +
                                                 "own actions and for events stored before roles were recorded (2026-12-05).")]
    string? Role,
    [property: System.ComponentModel.Description("Why, as the person who made the change wrote it for the audit trail (support's or finance's " +
                                                 "reason). Shown to support and auditors; null for the account's member, whose entry's " +
                                                 "description and data quote neither.")]
    string? Reason,
    [property: System.ComponentModel.Description("The support ticket a support action answers (the member's own ticket): shown to every reader.")]
    string? TicketReference,
    string? CorrelationId,
    string? CausationId,
    CausedBy? CausedBy,
    string Description,
    object Data,
    [property: System.ComponentModel.Description("Null when the event as stored still hashes to its link in the account's hash chain. Otherwise " +
                                                 "what is wrong, as verification names it: edited (its content, the data shown here included, " +
                                                 "was changed after it was appended), reordered (its sequence is not the one chained) or hash_altered (the event " +
                                                 "is the one chained; its link's stored hash was changed). " +
                                                 "The entry shows the event as it is stored now.")]
    string? ChainProblem);

/// <summary>One page of an account's history, oldest event first.</summary>
/// <param name="AccountId">The business account.</param>
/// <param name="Items">The page's events, in ledger order (<c>sequence</c>).</param>
/// <param name="Page">The page number, from 1.</param>
/// <param name="PageSize">Events per page asked for (1 to 500, 100 by default).</param>
/// <param name="Total">How many events match the filters, on all pages.</param>
/// <param name="ChainIntact">True when every link of the hash chains that feed the account (those its <c>hash-chain</c> names: its own,
/// its streams' for events that name no account, and those of the old CPS accounts its migration reads, whose imports the migrated
/// products come from) still matches its stored event, whatever the page and the filters; false when <paramref name="ChainBreaks"/>
/// names a break. Verification (<c>hash-chain</c>, <c>verify</c>) checks more: archived events, versions out of step, events with
/// no link, exported heads.</param>
/// <param name="ChainBreaks">Every link of those chains that no longer matches its stored event (edited, removed or
/// reordered), each chain's in link order, as the account's <c>hash-chain</c> names it, on whichever page its event is; empty when intact. Each entry that is
/// not as chained says so in its <c>chainProblem</c>; a break in an old CPS account's chain is at an event the history does not
/// list (e.g. the old account's import of a product), so the page alone names it.</param>
public sealed record HistoryPage(Guid AccountId, IReadOnlyList<HistoryEntry> Items, int Page, int PageSize, long Total, bool ChainIntact,
    IReadOnlyList<ChainBreak> ChainBreaks);

public static class AccountHistory
{
    /// <summary>The events an account's history holds (each has its sentence in <see cref="Describe"/>): what <c>types</c> filters by.</summary>
    public static readonly IReadOnlyList<Type> EventTypes =
    [
        typeof(BusinessAccountOpened), typeof(ProductRegistered), typeof(ProductDetailsAmended), typeof(PointsAllocated),
        typeof(PointsRemoved), typeof(ProductDeregistered), typeof(PointsAdjusted), typeof(InvitationIssued), typeof(OldCpsEmailLinked),
        typeof(Migration.OldCpsEmailVerificationRequested), typeof(Migration.OldCpsEmailVerificationFailed),
        typeof(Migration.OldCpsEmailVerified), typeof(OldCpsEmailUnlinked), typeof(LegacyMembershipNumberRecorded),
        typeof(InvitationEmailResent), typeof(InvitationWithdrawn), typeof(CpsJoined), typeof(Invoicing.InvoiceIssued),
        typeof(Invoicing.CardChargeAttempted), typeof(Invoicing.PaymentReceived), typeof(Invoicing.InvoicePaid),
        typeof(Invoicing.InvoiceBecameOverdue), typeof(MembershipSuspended), typeof(MembershipReinstated), typeof(RenewalOffered),
        typeof(RenewalTierChosen), typeof(RenewalStopped), typeof(MembershipRenewed), typeof(MembershipLapsed), typeof(MembershipCancelled),
        typeof(TierUpgraded), typeof(Invoicing.PaymentCardRecorded), typeof(Invoicing.PaymentCardSaved), typeof(BillingDetailsChanged),
        typeof(Invoicing.InvoiceCancelled), typeof(Invoicing.CreditNoteIssued), typeof(Migration.LegacyProductMigrated),
        typeof(Invoicing.InvoiceReplaced), typeof(Invoicing.PaymentReceivedAfterCancellation), typeof(Invoicing.RefundPaid),
    ];

    /// <summary>A sentence per event an auditor or support agent can read without the JSON.</summary>
    public static string Describe(object data) => data switch
    {
        BusinessAccountOpened e => $"Account opened for {e.CompanyName} ({e.ContactEmail}, {e.Country})" +
                                   (e.OldCpsEmails.Count > 0 ? $"; old CPS e-mails {string.Join(", ", e.OldCpsEmails)}" : ""),
        ProductRegistered e => $"{e.ModelName} ({e.ModelCode}) registered" + (e.SerialNumber is null ? "" : $", serial {e.SerialNumber}") +
                               (e.Source == RegistrationSource.Migration ? ", migrated from old CPS" : "") +
                               (new RegistrationDetails(e.SerialNumber, e.PurchaseDate, e.CountryOfPurchase, e.Dealer).Missing is { Count: > 0 } missing
                                   ? $"; missing {string.Join(", ", missing.Select(d => Words(d)))}" : ""),
        ProductDetailsAmended e => $"Details of {e.ModelCode} amended: " + string.Join(", ", new[]
        {
            e.SerialNumber is null ? null : $"serial {e.PreviousSerialNumber ?? "(none)"} → {e.SerialNumber}",
            e.PurchaseDate is null ? null : $"purchase date {e.PurchaseDate:yyyy-MM-dd}",
            e.CountryOfPurchase is null ? null : $"country {e.CountryOfPurchase}",
            e.Dealer is null ? null : $"dealer {e.Dealer}",
        }.OfType<string>().DefaultIfEmpty("best-guess flags")),
        PointsAllocated e => $"+{e.Points} points for {e.ModelCode} serial {e.SerialNumber} (catalogue version {e.CatalogueVersion})",
        PointsRemoved e => $"−{e.Points} points for {e.ModelCode}" + (e.SerialNumber is null ? "" : $" serial {e.SerialNumber}") + $": {e.Reason}",
        // Its serial, as the points removed with it say: an account may hold two of one model.
        ProductDeregistered e => $"{e.ModelCode}" + (e.SerialNumber is null ? "" : $" serial {e.SerialNumber}") +
                                 $" deregistered ({DeregisterProductEndpoint.Describe(e.Reason)})" +
                                 (e.Note is null ? "" : $": {e.Note}"),
        PointsAdjusted e => $"Manual adjustment {(e.Points > 0 ? "+" : "−")}{Math.Abs(e.Points)} points (ticket {e.TicketReference}): {e.Reason}",
        InvitationIssued e => $"Invited to join CPS at {e.Points} points (threshold {e.Threshold}, tier table v{e.TierTableVersion})",
        OldCpsEmailLinked e => $"Old CPS e-mail {e.Email} linked by support{Ticket(e.TicketReference)}: {e.Reason}",
        Migration.OldCpsEmailVerificationRequested e => $"Verification code sent to old CPS e-mail {e.Email} " +
                                                         $"(valid until {e.ExpiresAt:yyyy-MM-dd HH:mm} UTC, {e.AttemptsAllowed} attempts)",
        Migration.OldCpsEmailVerificationFailed { Reason: Migration.OldCpsEmailVerificationFailure.CodeExpired } e =>
            $"Expired verification code entered for old CPS e-mail {e.Email}",
        Migration.OldCpsEmailVerificationFailed e => $"Wrong verification code entered for old CPS e-mail {e.Email} " +
                                                     $"({e.AttemptsLeft} attempt{(e.AttemptsLeft == 1 ? "" : "s")} left)",
        Migration.OldCpsEmailVerified { Method: Migration.OldCpsEmailVerificationMethod.SupportLink } e =>
            $"Old CPS e-mail {e.Email} verified: linked by support ({e.Reason})",
        Migration.OldCpsEmailVerified e => $"Old CPS e-mail {e.Email} verified with the code sent to it",
        OldCpsEmailUnlinked e => $"Old CPS e-mail {e.Email} unlinked by support{Ticket(e.TicketReference)}: {e.Reason}",
        Migration.LegacyProductMigrated { WasAlreadyRegistered: true } e =>
            $"Old CPS product linked to the registration the account had made already ({e.RegistrationId})",
        Migration.LegacyProductMigrated e => $"Old CPS product migrated into the account as registration {e.RegistrationId}",
        LegacyMembershipNumberRecorded e => $"Old CPS membership number {e.MembershipNumber} (of {e.OldEmail}) kept on the account's history",
        InvitationEmailResent e => $"Invitation e-mail sent again by support{Ticket(e.TicketReference)}: {e.Reason}",
        InvitationWithdrawn e => $"Invitation withdrawn: {e.Points} points, below the threshold of {e.Threshold}",
        // Joining pays nothing (its invoice follows, VAT added): the fee and how it is to be paid, not money moved.
        CpsJoined e => $"Joined CPS: {e.TierName}, {Invoicing.InvoiceWording.Money(e.AnnualFee)} {e.Currency} a year before VAT, paying by " +
                       $"{(e.PaymentMethod == PaymentMethod.Card ? "card" : "bank transfer")}, " +
                       $"{e.StartsOn:yyyy-MM-dd} to {e.EndsOn:yyyy-MM-dd}, membership number {e.MembershipNumber}",
        Invoicing.InvoiceIssued e => $"Invoice {e.InvoiceNumber} issued: {Invoicing.InvoiceWording.Money(e.Total)} {e.Currency}, due {e.DueOn:yyyy-MM-dd}" +
                                     (e.Replaces is { } replaced ? $"; replaces {replaced.InvoiceNumber} (credit note {replaced.CreditNoteNumber})" : ""),
        Invoicing.CardChargeAttempted e => $"Card charge {e.Attempt} for {e.InvoiceNumber}" +
                                           (e.Card is { } card ? $" ({card.Brand} ending {card.Last4})" : "") +
                                           $": {Invoicing.InvoiceWording.Money(e.Amount)} {e.Currency}, {Words(e.Outcome)}" +
                                           (ChargeReason(e.Outcome, e.Reason) is { } reason ? $": {reason}" : ""),
        // The overpaid figure the payment recorded is the invoice's own right after it (Invoice.Overpaid: received beyond the total, less
        // what was refunded), decided by InvoicePayments.Receive with the fold's formula: not this payment's excess alone.
        Invoicing.PaymentReceived { Kind: Invoicing.PaymentKind.Overpayment } e =>
            $"{Invoicing.InvoiceWording.Money(e.Amount)} {e.Currency} received for {e.InvoiceNumber} ({Words(e.Kind)}, {Words(e.Method)}); the invoice is now overpaid by " +
            $"{Invoicing.InvoiceWording.Money(e.Overpaid)} {e.Currency}",
        Invoicing.PaymentReceived e => $"{Invoicing.InvoiceWording.Money(e.Amount)} {e.Currency} received for {e.InvoiceNumber} ({Words(e.Kind)}, {Words(e.Method)})",
        // A charge whose answer was lost or late: the card may have been charged before the cancellation committed, only found after it.
        Invoicing.PaymentReceivedAfterCancellation e => (e.Method == PaymentMethod.Card
                                                            ? $"{Invoicing.InvoiceWording.Money(e.Amount)} {e.Currency} charged to the card for {e.InvoiceNumber}, found approved at the " +
                                                              "payment provider after the invoice was "
                                                            : $"{Invoicing.InvoiceWording.Money(e.Amount)} {e.Currency} received for {e.InvoiceNumber} ({Words(e.Method)}), recorded after it was ") +
                                                        $"cancelled by credit note {e.CreditNoteNumber}: " +
                                                        (e.RefundDue == e.Amount
                                                            ? $"{Invoicing.InvoiceWording.Money(e.RefundDue)} {e.Currency} to refund"
                                                            : $"all of it to refund, {Invoicing.InvoiceWording.Money(e.RefundDue)} {e.Currency} on the invoice in all"),
        Invoicing.RefundPaid e => $"Refund of {Invoicing.InvoiceWording.Money(e.Amount)} {e.Currency} paid for {e.InvoiceNumber} on {e.PaidOn:yyyy-MM-dd} (reference {e.Reference}): " +
                                  // A cancelled invoice's refund may be of money received before the cancellation: the words say what was refunded, not when.
                                  (e.Of == Invoicing.RefundOf.Overpayment ? "overpayment" : "received on the cancelled invoice") + "; " +
                                  (e.StillOwedBack > 0 ? $"{Invoicing.InvoiceWording.Money(e.StillOwedBack)} {e.Currency} still to refund" : "nothing more to refund"),
        Invoicing.InvoicePaid e => $"Invoice {e.InvoiceNumber} paid",
        Invoicing.InvoiceBecameOverdue e => $"Invoice {e.InvoiceNumber} overdue: {Invoicing.InvoiceWording.Money(e.Outstanding)} {e.Currency} outstanding",
        // Suspended after the grace period whether or not part of the invoice was paid: "unpaid" was untrue of a partial payment.
        MembershipSuspended e => $"Membership suspended: invoice {e.InvoiceNumber} not paid in full",
        MembershipReinstated e => $"Membership reinstated: invoice {e.InvoiceNumber} settled (paid, or cancelled by a credit note)",
        RenewalOffered e => DescribeRenewalOffer(e, null),
        RenewalTierChosen e => $"Renewal tier chosen: {e.TierName} ({Invoicing.InvoiceWording.Money(e.AnnualFee)} {e.Currency} a year before VAT)",
        // A tier chosen later resumes the renewal: the stop alone does not end the membership.
        RenewalStopped _ => "Renewal stopped: the membership is not renewed at its term end unless a renewal tier is chosen again before then",
        MembershipRenewed e => $"Renewed: {e.TierName}, {e.StartsOn:yyyy-MM-dd} to {e.EndsOn:yyyy-MM-dd}, membership number {e.MembershipNumber} kept",
        MembershipLapsed e => $"Membership {e.MembershipNumber} lapsed on {e.EndedOn:yyyy-MM-dd}: {LapseWording.Reason(e.Reason)}" +
                              (e.CancelledInvoices.Count > 0 ? $"; cancelled {string.Join(", ", e.CancelledInvoices)}" : ""),
        MembershipCancelled e => $"Membership {e.MembershipNumber} cancelled by support on {e.EndedOn:yyyy-MM-dd}{Ticket(e.TicketReference)}: {e.Reason}" +
                                 (e.CancelledInvoices.Count > 0 ? $"; cancelled {string.Join(", ", e.CancelledInvoices)}" : ""),
        TierUpgraded e => $"Upgraded from {e.FromTierName} to {e.TierName} on {e.EffectiveOn:yyyy-MM-dd}: {Invoicing.InvoiceWording.Money(e.ProRataAmount)} {e.Currency} before VAT for " +
                          $"{e.DaysRemaining} of {e.DaysInTerm} days",
        Invoicing.PaymentCardRecorded e => $"Payment card recorded (token ending {Masked(e.CardToken)})",
        Invoicing.PaymentCardSaved e => $"Payment card recorded: {e.Brand} ending {e.Last4}, expires {e.ExpiryMonth:D2}/{e.ExpiryYear}",
        BillingDetailsChanged e => $"Billing details set: {string.Join(", ", e.Address.Lines())}" + (e.VatId is null ? ", no VAT ID" : $", VAT ID {e.VatId}"),
        Invoicing.InvoiceCancelled e => $"Invoice {e.InvoiceNumber} cancelled by credit note {e.CreditNoteNumber}: {e.Reason}",
        Invoicing.InvoiceReplaced e => $"Invoice {e.InvoiceNumber} replaced by invoice {e.ReplacementInvoiceNumber}: {e.Reason}",
        Invoicing.CreditNoteIssued e => $"Credit note {e.CreditNoteNumber} issued for invoice {e.InvoiceNumber}: {Invoicing.InvoiceWording.Money(e.Total)} {e.Currency} credited" +
                                        (e.RefundDue > 0 ? $", {Invoicing.InvoiceWording.Money(e.RefundDue)} {e.Currency} to refund" : ""),
        Invoicing.VatRatesPublished e => $"VAT rates published ({e.Rates.Count} entries): {e.Reason}",
        _ => Words(data.GetType().Name),
    };

    /// <summary>
    /// A member's sentence for an event whose own sentence quotes the reason support wrote for the audit trail (which may be an
    /// internal note): that CPS support made the change, and the ticket where there is one, never why. Null for every other event.
    /// </summary>
    public static string? ForMember(object data) => data switch
    {
        PointsAdjusted e => $"Manual adjustment {(e.Points > 0 ? "+" : "−")}{Math.Abs(e.Points)} points by CPS support (ticket {e.TicketReference})",
        OldCpsEmailLinked e => $"Old CPS e-mail {e.Email} linked by CPS support{Ticket(e.TicketReference)}",
        Migration.OldCpsEmailVerified { Method: Migration.OldCpsEmailVerificationMethod.SupportLink } e =>
            $"Old CPS e-mail {e.Email} verified: linked by CPS support",
        OldCpsEmailUnlinked e => $"Old CPS e-mail {e.Email} unlinked by CPS support{Ticket(e.TicketReference)}",
        InvitationEmailResent e => $"Invitation e-mail sent again by CPS support{Ticket(e.TicketReference)}",
        // Finance's note on why it replaced an invoice is not printed for the buyer either: the replacement invoice is what it gets.
        Invoicing.InvoiceReplaced e => $"Invoice {e.InvoiceNumber} replaced by invoice {e.ReplacementInvoiceNumber}",
        MembershipCancelled e => $"Membership {e.MembershipNumber} cancelled by CPS support on {e.EndedOn:yyyy-MM-dd}{Ticket(e.TicketReference)}" +
                                 (e.CancelledInvoices.Count > 0 ? $"; cancelled {string.Join(", ", e.CancelledInvoices)}" : ""),
        _ => null,
    };

    // The ticket a support action answers, where its event records one (none before 2026-12-06 but on adjustments): the member's
    // own, so both sentences name it, as an adjustment's always did.
    private static string Ticket(string? ticket) => ticket is null ? "" : $" (ticket {ticket})";

    // The events whose own data holds support's reason: the member's history shows their data without it.
    private static bool HoldsSupportsReason(object data) => data is PointsAdjusted or OldCpsEmailLinked or Migration.OldCpsEmailVerified
        or OldCpsEmailUnlinked or InvitationEmailResent or MembershipCancelled or Invoicing.InvoiceReplaced;

    private static string Masked(string token) => token.Length <= 4 ? "…" : "…" + token[^4..];

    // A card token is a credential at the payment provider: the history shows its end only.
    private static object Shown(object data) => data switch
    {
        Invoicing.PaymentCardRecorded card => new { card.AccountId, CardTokenEnding = Masked(card.CardToken), card.RecordedAt },
        // The provider's reference charges the card: shown as what the member sees of the card.
        Invoicing.PaymentCardSaved card => new { card.AccountId, card.Brand, card.Last4, card.ExpiryMonth, card.ExpiryYear, card.RecordedAt },
        _ => data,
    };

    // The gateway's reason often repeats the outcome ("card declined (insufficient funds)"): the sentence says the outcome once.
    private static string? ChargeReason(Invoicing.ChargeOutcome outcome, string? reason)
    {
        var rest = reason?.Trim() ?? "";
        foreach (var said in new[] { $"card {Words(outcome)}", Words(outcome) })
            if (rest.StartsWith(said, StringComparison.OrdinalIgnoreCase))
            {
                rest = rest[said.Length..].Trim().TrimStart(':', ',', '-').Trim();
                break;
            }
        if (rest.StartsWith('(') && rest.EndsWith(')'))
            rest = rest[1..^1].Trim();
        return rest.Length == 0 ? null : rest;
    }

    private static string Words(object name) =>
        System.Text.RegularExpressions.Regex.Replace(name.ToString()!, "(?<=[a-z])(?=[A-Z])", " ").ToLowerInvariant();

    /// <param name="description">The sentence when the event alone does not say what happened (<see cref="DerivedSentencesAsync"/>).</param>
    /// <param name="member">The JSON options the response is written with, when the reader is the account's member (not support, not an
    /// auditor): then no reason support wrote is shown (<see cref="ForMember"/>), the ticket is.</param>
    /// <param name="staff">For the account's member: the account's staff, read by their role instead of their names
    /// (<see cref="StaffNames"/>).</param>
    /// <param name="chainProblem">What is wrong with the event's link in the hash chain; null when it still hashes.</param>
    public static HistoryEntry Entry(IEvent e, AccountStreamKind kind, string? description = null, JsonSerializerOptions? member = null,
        StaffNames.Staff? staff = null, string? chainProblem = null)
    {
        staff ??= StaffNames.Staff.None;
        var (reason, ticket) = SupportReason.Of(e);
        var shown = Shown(e.Data);
        if (member is not null)
        {
            reason = null;
            description = ForMember(e.Data) ?? description;
            if (HoldsSupportsReason(e.Data) && JsonSerializer.SerializeToNode(shown, shown.GetType(), member) is JsonObject data)
            {
                data.Remove(member.PropertyNamingPolicy?.ConvertName("Reason") ?? "Reason");
                shown = data;
            }
        }

        return new HistoryEntry(e.Sequence, CommitIds.Of(e), e.Id, e.StreamId, kind, e.Version, e.EventTypeName, e.Timestamp,
            staff.ShownBy(e), ActorRoles.Of(e), reason, ticket, e.CorrelationId, e.CausationId, staff.Shown(SystemActor.CausedByOf(e)),
            description ?? Describe(e.Data), shown, chainProblem);
    }

    /// <summary>
    /// The sentences the events alone cannot give, by event id, each derived from the events rather than stored:
    /// <list type="bullet">
    /// <item>A suspension that moved to another invoice (<see cref="Invoicing.OverdueDecision.AfterSettlement"/>): the settlement of
    /// the invoice it was for left another of the term overdue, so the membership was suspended for that one instead of being
    /// reinstated. The event is a <see cref="MembershipSuspended"/> like any other (its meaning is unchanged: suspended for this
    /// invoice); what makes it a move is that the membership replayed to just before it was already suspended, in the same term,
    /// for another invoice.</item>
    /// <item>A reinstatement: which settlement of its invoice lifted the suspension (paid, or cancelled by which credit note).</item>
    /// <item>A product migrated from an old CPS account: which model (as its registration recorded it) and serial (as the old file
    /// said it, and as registered where that reads otherwise): the event names only the registration's id, which no reader can tell
    /// apart.</item>
    /// <item>A renewal offer: the eligible tiers by name, from the tier table it was decided on (<see cref="DescribeRenewalOffer"/>).</item>
    /// </list>
    /// In the first two, the settled invoice's stream says how it was settled.
    /// </summary>
    public static async Task<IReadOnlyDictionary<Guid, string>> DerivedSentencesAsync(IQuerySession session, IReadOnlyList<IEvent> events,
        CancellationToken ct)
    {
        // What the sentences read from other streams, in one round trip however many suspensions, migrations and offers the page holds: the
        // membership's events before its last suspension here (each suspension's membership before it is replayed from them in
        // memory, not read a query each), each migrated product's registration and old CPS account, and the tier table's events up to
        // the last offer's table (a few: one per table published). Then the settlements.
        // Version 1 starts the stream (an invitation, an old membership number): no suspension precedes it.
        var suspensions = events.Where(e => e.Data is MembershipSuspended && e.Version > 1).ToList();
        var migrated = events.Where(e => e.Data is Migration.LegacyProductMigrated).ToList();
        var offers = events.Where(e => e.Data is RenewalOffered { EligibleTiers.Count: > 0 }).ToList();
        var moves = migrated.Select(e => (Event: e, Moved: (Migration.LegacyProductMigrated)e.Data)).ToList();
        var registrationIds = moves.Select(m => m.Moved.RegistrationId).Distinct().ToArray();
        var legacyAccountIds = moves.Select(m => m.Moved.LegacyAccountId).Distinct().ToArray();
        IReadOnlyList<IEvent> membershipEvents = [], registrationEvents = [], importedEvents = [], tableEvents = [];
        if (suspensions.Count > 0 || migrated.Count > 0 || offers.Count > 0)
        {
            var batch = session.CreateBatchQuery();
            var membershipIds = suspensions.Select(e => e.StreamId).Distinct().ToArray();
            var lastSuspension = suspensions.Select(e => e.Version).DefaultIfEmpty().Max();
            var membershipRead = suspensions.Count == 0 ? null
                : batch.Query<IEvent>().Where(e => e.StreamId.IsOneOf(membershipIds) && e.Version < lastSuspension).OrderBy(e => e.Version).ToList();
            var registrationsRead = migrated.Count == 0 ? null
                : batch.Query<IEvent>()
                    .Where(e => e.StreamId.IsOneOf(registrationIds) && e.EventTypesAre(typeof(ProductRegistered), typeof(ProductDetailsAmended)))
                    .OrderBy(e => e.Sequence).ToList();
            var importedRead = migrated.Count == 0 ? null
                : batch.Query<IEvent>().Where(e => e.StreamId.IsOneOf(legacyAccountIds) && e.EventTypesAre(typeof(Migration.LegacyProductImported)))
                    .OrderBy(e => e.Sequence).ToList();
            var tableId = Tiers.TierTableStream.Id;
            var lastTable = offers.Select(e => ((RenewalOffered)e.Data).TierTableVersion).DefaultIfEmpty().Max();
            var tableRead = offers.Count == 0 ? null
                : batch.Query<IEvent>().Where(e => e.StreamId == tableId && e.Version <= lastTable).OrderBy(e => e.Version).ToList();
            await batch.Execute(ct);
            tableEvents = tableRead is null ? [] : await tableRead;
            membershipEvents = membershipRead is null ? [] : await membershipRead;
            registrationEvents = registrationsRead is null ? [] : await registrationsRead;
            importedEvents = importedRead is null ? [] : await importedRead;
        }

        var sentences = new Dictionary<Guid, string>(await SettlementSentencesAsync(session, events, suspensions,
            new StreamReplay(session, membershipEvents), ct));
        var tables = new Dictionary<long, Tiers.TierTableView?>();
        foreach (var e in offers)
        {
            var offer = (RenewalOffered)e.Data;
            if (!tables.TryGetValue(offer.TierTableVersion, out var table))
                tables[offer.TierTableVersion] = table = Tiers.TierTableStream.AtVersion(tableEvents, offer.TierTableVersion);
            sentences[e.Id] = DescribeRenewalOffer(offer, table);
        }

        if (migrated.Count == 0)
            return sentences;
        // What the old file said: the product as imported (a later import leaves a product imported before as it was).
        var imported = importedEvents
            .Select(e => (Migration.LegacyProductImported)e.Data).DistinctBy(p => p.LegacyProductId).ToDictionary(p => p.LegacyProductId);
        foreach (var (e, moved) in moves)
        {
            var ofRegistration = registrationEvents.Where(r => r.StreamId == moved.RegistrationId).ToList();
            if (ofRegistration.Select(r => r.Data).OfType<ProductRegistered>().FirstOrDefault() is not { } product)
                continue;
            // The serial the registration had when the migration matched it: an amendment may have added or changed it since it was
            // registered. A registration the migration itself started is in the same commit, written before or after the event.
            var serial = product.SerialNumber;
            foreach (var amended in ofRegistration.Where(r => r.Sequence < e.Sequence).Select(r => r.Data).OfType<ProductDetailsAmended>())
                serial = amended.SerialNumber ?? serial;
            sentences[e.Id] = DescribeMigratedProduct(moved, product, serial, imported.GetValueOrDefault(moved.LegacyProductId));
        }

        return sentences;
    }

    /// <summary>
    /// A renewal offer: the tier pre-selected and the tiers eligible, by the names members read (the event records the eligible tiers'
    /// codes only): on the tier table the offer was decided on, read by <see cref="DerivedSentencesAsync"/>. Without it (a reader of
    /// one event, or a version the table's stream lacks) the codes.
    /// </summary>
    public static string DescribeRenewalOffer(RenewalOffered e, Tiers.TierTableView? table) =>
        $"Renewal offered for the term ending {e.TermEndsOn:yyyy-MM-dd}: " +
        (e.OfferedTier is null ? $"no tier eligible at {e.Points} points"
            : e.AnnualFee is { } fee ? $"{e.OfferedTierName} pre-selected ({Invoicing.InvoiceWording.Money(fee)} {e.Currency} a year before VAT)"
            : $"{e.OfferedTierName} pre-selected") +
        (e.EligibleTiers.Count > 0
            ? $"; eligible: {string.Join(", ", e.EligibleTiers.Select(code => table?.Tiers.FirstOrDefault(t => t.Code == code)?.Name ?? code))}"
            : "");

    /// <summary>
    /// The product a migration moved, as the old file said it (its serial as written there), with the registration it became or was
    /// linked to; and the serial as registered where that reads otherwise: the migration matches serials as "one serial, one owner"
    /// compares them (no whitespace, any case), so the account may have typed it differently, or added it later by an amendment.
    /// </summary>
    /// <param name="product">The registration's <see cref="ProductRegistered"/> (the model's name and code as the catalogue lists them).</param>
    /// <param name="registeredSerial">The registration's serial when the migration matched it.</param>
    /// <param name="imported">The legacy product as imported; null when it is not found (then the registration's serial is named).</param>
    public static string DescribeMigratedProduct(Migration.LegacyProductMigrated e, ProductRegistered product, string? registeredSerial,
        Migration.LegacyProductImported? imported)
    {
        var oldSerial = imported is null ? registeredSerial : imported.SerialNumber;
        var what = $"Old CPS product {product.ModelName} ({product.ModelCode}), " +
                   (oldSerial is null ? "no serial number," : $"serial {oldSerial},");
        var differs = registeredSerial is not null && !string.Equals(registeredSerial, oldSerial, StringComparison.Ordinal)
            ? $"registered as serial {registeredSerial}"
            : null;
        return e.WasAlreadyRegistered
            ? $"{what} linked to the registration the account had made already ({e.RegistrationId}{(differs is null ? "" : $", {differs}")})"
            : $"{what} migrated into the account as registration {e.RegistrationId}{(differs is null ? "" : $" ({differs})")}";
    }

    /// <param name="suspensions">The page's suspensions that may have moved (not the first event of their stream).</param>
    /// <param name="memberships">Their membership streams' events before them.</param>
    private static async Task<IReadOnlyDictionary<Guid, string>> SettlementSentencesAsync(IQuerySession session, IReadOnlyList<IEvent> events,
        IReadOnlyList<IEvent> suspensions, StreamReplay memberships, CancellationToken ct)
    {
        var moves = new List<(IEvent Event, MembershipSuspended Suspended, MembershipSuspension From)>();
        foreach (var e in suspensions)
        {
            var suspended = (MembershipSuspended)e.Data;
            var before = await memberships.AggregateAsync<AccountMembership>(e.StreamId, ct, e.Version - 1);
            if (before?.Suspension is { } from && from.MembershipId == suspended.MembershipId && from.InvoiceId != suspended.InvoiceId)
                moves.Add((e, suspended, from));
        }

        var reinstatements = events.Where(e => e.Data is MembershipReinstated).ToList();
        if (moves.Count == 0 && reinstatements.Count == 0)
            return new Dictionary<Guid, string>();

        var settledIds = moves.Select(m => m.From.InvoiceId).Concat(reinstatements.Select(r => ((MembershipReinstated)r.Data).InvoiceId))
            .Distinct().ToArray();
        var settlements = await session.Events.QueryAllRawEvents()
            .Where(e => e.StreamId.IsOneOf(settledIds) && e.EventTypesAre(typeof(Invoicing.InvoicePaid), typeof(Invoicing.InvoiceCancelled)))
            .OrderBy(e => e.Sequence).ToListAsync(ct);
        // The settlement of that invoice committed with the event, by commit id. Events stored before commit ids carry none: then the
        // last settlement before the event, or else the first after it (until 2026-12-05 Marten wrote a settlement's membership event
        // first in its transaction, the membership's stream being fetched first for its lock; since, it is written last).
        object? SettlementOf(Guid invoiceId, IEvent e) =>
            (CommitIds.Of(e) is { } commit ? settlements.FirstOrDefault(s => s.StreamId == invoiceId && CommitIds.Of(s) == commit) : null)?.Data
            ?? (settlements.LastOrDefault(s => s.StreamId == invoiceId && s.Sequence < e.Sequence)
                ?? settlements.FirstOrDefault(s => s.StreamId == invoiceId))?.Data;

        var sentences = moves.ToDictionary(m => m.Event.Id,
            m => DescribeMovedSuspension(m.Suspended, m.From.InvoiceNumber, SettlementOf(m.From.InvoiceId, m.Event)));
        foreach (var r in reinstatements)
        {
            var reinstated = (MembershipReinstated)r.Data;
            sentences[r.Id] = DescribeReinstatement(reinstated, SettlementOf(reinstated.InvoiceId, r));
        }

        return sentences;
    }

    /// <param name="settlement">The invoice's <c>InvoicePaid</c> or <c>InvoiceCancelled</c>; null when none is found.</param>
    public static string DescribeReinstatement(MembershipReinstated e, object? settlement) =>
        $"Membership reinstated: invoice {e.InvoiceNumber} " + Settled(settlement);

    private static string Settled(object? settlement) => settlement switch
    {
        Invoicing.InvoicePaid => "was paid",
        Invoicing.InvoiceCancelled c => $"was cancelled by credit note {c.CreditNoteNumber}",
        _ => "was settled (paid, or cancelled by a credit note)",
    };

    /// <param name="settlement">The settled invoice's <c>InvoicePaid</c> or <c>InvoiceCancelled</c>; null when none is found.</param>
    public static string DescribeMovedSuspension(MembershipSuspended e, string fromInvoiceNumber, object? settlement) =>
        $"Membership stays suspended, now for invoice {e.InvoiceNumber} not paid in full: invoice {fromInvoiceNumber}, which it was suspended for, " +
        Settled(settlement);
}

/// <summary>
/// The names <c>types</c> takes, in any letter case: each event's stored name (<c>points_adjusted</c>, as the history's
/// <c>type</c> shows it) and its name in the points explanation's <c>event</c> (<c>PointsAdjusted</c>), so that a name copied
/// from either finds the events.
/// </summary>
public static class HistoryTypes
{
    private static IReadOnlyDictionary<string, string>? _stored;

    /// <summary>Each accepted name with the stored name it stands for.</summary>
    public static IReadOnlyDictionary<string, string> Of(IDocumentStore store) => _stored ??= AccountHistory.EventTypes
        .Select(t => (Type: t, Stored: ((Marten.Events.EventGraph)store.Options.Events).EventMappingFor(t).EventTypeName))
        .SelectMany(e => new[] { (Name: e.Stored, e.Stored), (Name: e.Type.Name, e.Stored) })
        .DistinctBy(e => e.Name, StringComparer.OrdinalIgnoreCase)
        .ToDictionary(e => e.Name, e => e.Stored, StringComparer.OrdinalIgnoreCase);

    public static string[] Split(string types) => types.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>
/// The description of <c>types</c>, naming every stored name <see cref="HistoryTypes"/> takes (the names come from the store's event
/// mappings, so not from a constant). A description, not an <c>enum</c>: the value is a comma-separated list, which an enum cannot say;
/// an array (style form, explode false) can, but NSwag's client writes an array as the parameter repeated, which the request gate
/// refuses for a single parameter; a pattern of some eighty alternatives is unreadable in Scalar and cannot say "any letter case".
/// The description is what both show: Scalar beside the parameter, NSwag as the client method's doc comment.
/// </summary>
public sealed class HistoryTypesDescriptionAttribute : ParameterDescriptionAttribute
{
    public override string Describe(IServiceProvider services) =>
        "Only events of these types, comma-separated (e.g. points_allocated,points_removed), in any letter case; a name that is not " +
        "one is a 400. Each type as the history's type shows it (a type is also taken by its name in the points explanation's " +
        "event, e.g. PointsAdjusted): " +
        string.Join(", ", HistoryTypes.Of(services.GetRequiredService<IDocumentStore>()).Values.Distinct()) + ".";
}

public static class GetAccountHistoryEndpoint
{
    // page and pageSize are not checked here: the request gate refuses them outside the endpoint's [Range] first (RequestGateTests).
    public static ProblemDetails Validate(DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset? through, string? types, IDocumentStore store)
    {
        if (TimeRange.Check(from, to, through) is HttpValidationProblemDetails range)
            return range;
        // A name that matches no event would answer an empty page, read as "none happened".
        var known = HistoryTypes.Of(store);
        var unknown = HistoryTypes.Split(types ?? "").Where(n => !known.ContainsKey(n)).ToList();
        return unknown.Count == 0
            ? WolverineContinue.NoProblems
            : Problems.Invalid("types", $"Not an event type of an account's history: {string.Join(", ", unknown)}. The types, in any letter case " +
                                        $"(or as the points explanation names them, e.g. PointsAdjusted): {string.Join(", ", known.Values.Distinct())}.");
    }

    [WolverineGet("/api/accounts/{accountId}/history", OperationId = "GetAccountHistory")]
    [Authorize(Roles = LedgerRoles.HistoryReaders)]
    [EndpointSummary("Every event that touched the account, across its streams, in commit order (paged; by time range and type)")]
    [EndpointDescription("Every event that touched the account, across its streams, in commit order (paged; by time range and type). " +
                         "Support and auditors read everything. A member reading its own history reads that CPS support made a change and " +
                         "its ticket, never the reason support wrote for the audit trail, nor finance's reason for replacing an invoice: no " +
                         "reason, and no description or data quoting either; and it reads the role of CPS staff who acted (\"CPS support\", " +
                         "\"CPS finance\") in by and causedBy.user, never a staff member's user name.")]
    public static async Task<HistoryPage> Get(Guid accountId,
        [Description("Only events recorded at or after this moment (included): ISO 8601 with its offset, " +
                     "e.g. 2026-11-01T00:00:00Z for UTC (a time without an offset is refused).")]
        DateTimeOffset? from,
        [Description("Only events recorded before this moment (not included); the same form as from, and not earlier than it. " +
                     "To include the moment itself, as time travel does, give through instead.")] DateTimeOffset? to,
        [Description("Only events recorded at or before this moment (included), to the microsecond: the events time travel's " +
                     "timestamp replays at the same moment (as-of?timestamp=). The same form as from, not earlier than it; give this " +
                     "or to, not both.")] DateTimeOffset? through,
        [HistoryTypesDescription] string? types,
        [Description("The page, from 1 (default 1); a page past the last has no items.")][Range(1, Paging.MaxPage)] int? page,
        [Description("Events per page (default 100).")][Range(1, 500)] int? pageSize,
        IQuerySession session, ChainVerification chains, ClaimsPrincipal user, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json,
        HttpContext http, CancellationToken ct)
    {
        // Support's reasons are notes for the audit trail and may be internal: a reader who is neither support nor an auditor is the
        // account's member (the route admits no one else), and reads the history without them.
        var member = SupportNotes.ReadsReasons(user) ? null : json.Value.SerializerOptions;
        var p = page ?? 1;
        var size = pageSize ?? 100;

        // The chains that feed the account, as its hash-chain status names them (its streams, and the old CPS accounts it reads).
        var scope = await AccountChains.OfAsync(session, chains, accountId, ct);
        var kinds = scope.Streams.ToDictionary(s => s.StreamId, s => s.Kind);
        var ids = kinds.Keys.ToArray();
        // The account's events on other streams (products migrated from an old CPS account): the history lists every event
        // on the account's hash chain, so an auditor can see each one verification names.
        foreach (var (streamId, _) in scope.LinkedElsewhere)
            kinds.TryAdd(streamId, AccountStreamKind.OldCpsAccount);
        var sequences = scope.LinkedElsewhere.Select(e => e.Sequence).ToArray();

        // The count and the page in one round trip.
        var batch = session.CreateBatchQuery();
        // No name at all ("", or only commas and spaces) is no filter: an empty set of names would answer an empty page.
        var names = HistoryTypes.Split(types ?? "");
        var wanted = names.Length == 0 ? null : names.Select(n => HistoryTypes.Of(session.DocumentStore)[n]).Distinct().ToArray();
        Marten.Services.BatchQuerying.IBatchedQueryable<IEvent> Filtered()
        {
            var query = batch.Query<IEvent>().Where(e => e.StreamId.IsOneOf(ids) || e.Sequence.IsOneOf(sequences));
            // PostgreSQL takes a timestamptz parameter in UTC only; the moment is the same whatever offset the client wrote.
            if (from?.ToUniversalTime() is { } f)
                query = query.Where(e => e.Timestamp >= f);
            if (to?.ToUniversalTime() is { } t)
                query = query.Where(e => e.Timestamp < t);
            // Rounded to the stored microseconds as time travel rounds it, so that both take the same events at the same moment.
            if (through is { } th)
            {
                var last = TimeRange.ToStoredPrecision(th);
                query = query.Where(e => e.Timestamp <= last);
            }
            if (wanted is not null)
                query = query.Where(e => e.EventTypeName.IsOneOf(wanted));
            return query;
        }

        var totalRead = Filtered().Count();
        var pageRead = Filtered().OrderBy(e => e.Sequence).Skip((p - 1) * size).Take(size).ToList();
        // The links of the chains that feed the account (its own, its streams' for events naming no account, its old CPS accounts'),
        // recomputed with the page: an edited event is marked wherever an auditor reads it, not only by verification.
        var brokenRead = chains.BrokenLinksIn(batch, scope.ChainIds);
        await batch.Execute(ct);
        var total = await totalRead;
        var events = await pageRead;
        var broken = await brokenRead();
        // The member reads staff's roles, not their names: by the role each event records, and where one on the page (or a cause
        // it names) records none, who is staff is read from the marks on the whole account, not the page: a round trip only pages
        // with events stored before roles were recorded cost.
        var staff = member is null ? null
            : events.All(StaffNames.Recorded) ? StaffNames.Staff.ByRecordedRoles
            : await StaffNames.ReadAsync(session, ids, sequences, ct);
        var derived = await AccountHistory.DerivedSentencesAsync(session, events, ct);
        var problems = broken.Where(b => b.EventId is not null).DistinctBy(b => b.EventId).ToDictionary(b => b.EventId!.Value, b => b.Problem);
        var items = events.Select(e => AccountHistory.Entry(e, kinds[e.StreamId], derived.GetValueOrDefault(e.Id), member, staff,
            problems.GetValueOrDefault(e.Id))).ToList();
        // Every broken link, as hash-chain and verification name them: the page's own entries are marked, the others only listed here.
        var every = broken.OrderBy(b => b.ChainId).ThenBy(b => b.Position).ToList();
        Paging.Links(http, p, size, total);
        return new HistoryPage(accountId, items, p, size, total, every.Count == 0, every);
    }
}
