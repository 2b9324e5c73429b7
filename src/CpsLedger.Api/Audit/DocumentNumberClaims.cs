using System.Text.Json;
using CpsLedger.Api.Invoicing;
using JasperFx.Events;

namespace CpsLedger.Api.Audit;

/// <summary>
/// The invoice and credit note number claims (<see cref="InvoiceNumberClaim"/>, <see cref="CreditNoteNumberClaim"/>: written beside the
/// event that issues the number, their primary key refusing a number issued twice) against those events, as sets. Lookups by number
/// (an invoice or credit note named in a payment, a refund, a cancellation, the account search) read the claim, never the events, so a
/// claim deleted, added or pointed at another invoice or account in SQL hides an invoice, or shows another's, while its documents and
/// their replay agree; and a number with no claim could be issued again. Each number an <see cref="InvoiceIssued"/> or
/// <see cref="CreditNoteIssued"/> issued must have a claim naming that event's invoice and account, and each claim such an event.
/// Until 2026-12-07 only the claims' account column was compared (with the claim itself, <see cref="DuplicatedColumns"/>).
/// </summary>
public static class DocumentNumberClaims
{
    /// <summary>What a difference's <see cref="ProjectionDifference.Field"/> is: "(claim)" for a claim missing or with no event, or
    /// "(claim) " and the claim's field (<c>InvoiceId</c>, <c>AccountId</c>) that names another invoice or account than the event.</summary>
    public const string FieldPrefix = "(claim)";

    /// <summary>The events that issue a number.</summary>
    public static readonly Type[] Events = [typeof(InvoiceIssued), typeof(CreditNoteIssued)];

    /// <summary>The invoice and the account a number was issued to (by its event) or is claimed for (by its claim).</summary>
    public sealed record Holder(Guid InvoiceId, Guid AccountId);

    /// <summary>The invoice numbers and the credit note numbers some events issue, each to its holder.</summary>
    public sealed record Issued(IReadOnlyDictionary<string, Holder> Invoices, IReadOnlyDictionary<string, Holder> CreditNotes);

    /// <summary>The invoice numbers and the credit note numbers the events given issue, each the first event's (in the order given).</summary>
    /// <param name="events">Any events (the number-issuing ones are picked out): the ledger's, or one account's streams'.</param>
    public static Issued IssuedIn(IEnumerable<IEvent> events)
    {
        var invoices = new Dictionary<string, Holder>(StringComparer.Ordinal);
        var creditNotes = new Dictionary<string, Holder>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.Data is InvoiceIssued issued)
                invoices.TryAdd(issued.InvoiceNumber, new Holder(issued.InvoiceId, issued.AccountId));
            else if (e.Data is CreditNoteIssued note)
                creditNotes.TryAdd(note.CreditNoteNumber, new Holder(note.InvoiceId, note.AccountId));
        }

        return new Issued(invoices, creditNotes);
    }

    /// <summary>
    /// Every difference between the claims and the numbers the events issue: a difference each for a number with no claim (<c>stored</c>
    /// null, <c>replayed</c> the event's invoice and account as JSON), a claim no event issued the number of (the other way round), and
    /// each field of a claim that names another invoice or account than the event (<c>stored</c> the claim's, <c>replayed</c> the
    /// event's). Numbers in ordinal order.
    /// </summary>
    /// <param name="issued">The numbers the events issue (<see cref="IssuedIn"/>), worked out once for the claims to read and this.</param>
    /// <param name="invoiceClaims">The claims to compare: every one, or one account's (those naming it, and those of the numbers its
    /// events issue).</param>
    public static IReadOnlyList<ProjectionDifference> Compare(Issued issued, IEnumerable<InvoiceNumberClaim> invoiceClaims,
        IEnumerable<CreditNoteNumberClaim> creditNoteClaims)
    {
        var (invoices, creditNotes) = issued;
        var differences = new List<ProjectionDifference>();
        Compare(nameof(InvoiceNumberClaim), invoiceClaims.ToDictionary(c => c.Id, c => new Holder(c.InvoiceId, c.AccountId)), invoices, differences);
        Compare(nameof(CreditNoteNumberClaim), creditNoteClaims.ToDictionary(c => c.Id, c => new Holder(c.InvoiceId, c.AccountId)), creditNotes,
            differences);
        return differences;
    }

    private static void Compare(string document, IReadOnlyDictionary<string, Holder> claimed, IReadOnlyDictionary<string, Holder> issued,
        List<ProjectionDifference> differences)
    {
        foreach (var number in claimed.Keys.Union(issued.Keys).Order(StringComparer.Ordinal))
        {
            var claim = claimed.GetValueOrDefault(number);
            var issue = issued.GetValueOrDefault(number);
            if (claim is null || issue is null)
                differences.Add(new ProjectionDifference(document, number, FieldPrefix, Json(claim), Json(issue)));
            else
            {
                if (claim.InvoiceId != issue.InvoiceId)
                    differences.Add(new ProjectionDifference(document, number, $"{FieldPrefix} {nameof(Holder.InvoiceId)}",
                        Json(claim.InvoiceId), Json(issue.InvoiceId)));
                if (claim.AccountId != issue.AccountId)
                    differences.Add(new ProjectionDifference(document, number, $"{FieldPrefix} {nameof(Holder.AccountId)}",
                        Json(claim.AccountId), Json(issue.AccountId)));
            }
        }
    }

    // As the report's other values read: JSON, the claim's property names.
    private static string? Json(Holder? holder) => holder is null ? null : JsonSerializer.Serialize(holder);

    private static string Json(Guid id) => JsonSerializer.Serialize(id);
}
