using System.ComponentModel;
using System.Linq.Expressions;
using System.Text.RegularExpressions;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using Marten;
using Marten.Linq.MatchesSql;
using Marten.Schema;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Weasel.Postgresql;
using Weasel.Postgresql.Tables;
using Wolverine.Http;

namespace CpsLedger.Api.Accounts;

/// <summary>What a search text matched on an account.</summary>
public enum AccountMatchKind
{
    MembershipNumber,
    ContactEmail,
    OldCpsEmail,
    SerialNumber,
    CompanyName,
    /// <summary>An invoice's number, as printed on it ("INV-2026-000001").</summary>
    InvoiceNumber,
    /// <summary>A credit note's number, as printed on it ("CN-2026-000001").</summary>
    CreditNoteNumber,
    /// <summary>The payment reference an invoice prints for a bank transfer (its ISO 11649 creditor reference), shown grouped in
    /// fours as printed.</summary>
    CreditorReference,
}

/// <summary>One account a search found, and why: the field that matched and its value there.</summary>
/// <param name="AccountId">The account found.</param>
/// <param name="CompanyName">Its company name.</param>
/// <param name="ContactEmail">Its contact e-mail.</param>
/// <param name="Country">Its country: ISO 3166-1 alpha-2 code.</param>
/// <param name="MatchedOn">The field the text matched.</param>
/// <param name="MatchedValue">That field's value on the account.</param>
public sealed record AccountMatch(Guid AccountId, string CompanyName, string ContactEmail, string Country, AccountMatchKind MatchedOn,
    string MatchedValue);

/// <summary>The accounts a search text found.</summary>
/// <param name="Query">The text searched for, as given.</param>
/// <param name="Items">The accounts found.</param>
/// <param name="MoreThanShown">True when more accounts match than are listed: refine the text.</param>
public sealed record AccountSearchResults(string Query, IReadOnlyList<AccountMatch> Items, bool MoreThanShown);

/// <summary>
/// Support's "which account is this?": one text box that takes a company name, a contact or old CPS e-mail, a serial
/// number or a membership number, the things a caller reads out on the phone; and an invoice number, a credit note number or an
/// invoice's payment reference, what a member reads from an invoice and finance holds when a transfer arrives.
/// </summary>
public static partial class AccountSearch
{
    public const int MinimumLength = 2;
    public const int MaximumLength = 200;
    public const int Limit = 25;

    [GeneratedRegex(@"^\s*(CPS)?[\s-]*(\d{3})[\s-]*(\d{3})[\s-]*(\d{3})\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex MembershipNumberPattern();

    /// <summary>A membership number however it was typed ("cps 482173905", "482-173-905"), written the way it is issued.</summary>
    public static string? AsMembershipNumber(string text) =>
        MembershipNumberPattern().Match(text) is { Success: true } m ? $"CPS-{m.Groups[2]}-{m.Groups[3]}-{m.Groups[4]}" : null;

    [GeneratedRegex(@"^\s*(INV|CN)[\s-]*(\d{4})[\s-]*(\d{6})\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex DocumentNumberPattern();

    /// <summary>
    /// An invoice or credit note number however it was typed ("inv 2026 000001", "CN2026000001"), written the way it is issued;
    /// null for anything else. Year and sequence keep their full width, so without dashes the split is still unambiguous.
    /// </summary>
    public static (AccountMatchKind Kind, string Number)? AsDocumentNumber(string text) =>
        DocumentNumberPattern().Match(text) is { Success: true } m
            ? m.Groups[1].Value.Equals("INV", StringComparison.OrdinalIgnoreCase)
                ? (AccountMatchKind.InvoiceNumber, InvoiceNumbers.Format(int.Parse(m.Groups[2].Value), int.Parse(m.Groups[3].Value)))
                : (AccountMatchKind.CreditNoteNumber, CreditNoteNumbers.Format(int.Parse(m.Groups[2].Value), int.Parse(m.Groups[3].Value)))
            : null;

    /// <summary>
    /// One index per lookup below, so a search reads a handful of rows at any ledger size instead of scanning every account,
    /// claim and membership (at 100,000 accounts the scans took 77 ms at the median, 191 ms at p99; BENCHMARKS.md, P5).
    /// </summary>
    public static void AddAccountSearchIndexes(this StoreOptions opts)
    {
        // A part of a company name is a LIKE pattern with a leading wildcard, which only a trigram index (pg_trgm) serves.
        opts.Storage.ExtendedSchemaObjects.Add(new Extension("pg_trgm"));
        opts.Schema.For<AccountView>()
            .Index(a => a.CompanyName, index =>
            {
                index.Method = IndexMethod.gin;
                index.Mask = "? gin_trgm_ops";
            })
            .Index(a => a.ContactEmail, index => index.Casing = ComputedIndex.Casings.Lower)
            // Old CPS e-mails and membership numbers: a containment test on that one list (ListContains), served by a GIN
            // index of the list alone. A GIN index of the whole document did the same and cost more than the rest of the
            // account's row together on every write and rebuild (BENCHMARKS.md, P4).
            .Index(a => a.OldCpsEmails, ListIndex);
        opts.Schema.For<SerialOwnership>().Index(s => s.SerialNumber);
        // Old CPS membership numbers were free text and are compared without case; the imported old account gives the number as
        // it is held (the exact-case index beside it, MigrationSetup, serves the joins' "is it taken").
        opts.Schema.For<Migration.LegacyAccountView>().Index(l => l.OldMembershipNumber, index =>
        {
            index.Name = OldNumberIndex;
            index.Casing = ComputedIndex.Casings.Upper;
        });
        opts.Schema.For<AccountMembership>().Index(m => m.MembershipNumbers, ListIndex);

        static void ListIndex(ComputedIndex index)
        {
            index.Method = IndexMethod.gin;
            index.Mask = "? jsonb_path_ops";
        }
    }

    public const string OldNumberIndex = "mt_doc_legacyaccountview_idx_old_membership_number_upper";

    /// <summary>An imported old account whose membership number is <paramref name="text"/> in any letter case (<see cref="OldNumberIndex"/>).</summary>
    public static Expression<Func<Migration.LegacyAccountView, bool>> OldNumberIs(string text)
    {
        var upper = text.Trim().ToUpperInvariant();
        return l => l.OldMembershipNumber.ToUpper() == upper;
    }

    /// <summary>The accounts whose membership numbers hold each of <paramref name="numbers"/> as written; one more round trip, only when any.</summary>
    private static async Task<List<(Guid Account, AccountMatchKind Kind, string Value)>> HoldersOfAsync(IQuerySession session,
        IReadOnlyList<string> numbers, CancellationToken ct)
    {
        if (numbers.Count == 0)
            return [];
        var batch = session.CreateBatchQuery();
        var holders = numbers.Select(n => (Number: n, Accounts: batch.Query<AccountMembership>()
            .Where(m => m.MatchesSql(ListContains(nameof(AccountMembership.MembershipNumbers)), ListOf(n))).Take(Limit).ToList())).ToList();
        await batch.Execute(ct);
        var found = new List<(Guid, AccountMatchKind, string)>();
        foreach (var (n, accounts) in holders)
            found.AddRange((await accounts).Select(m => (m.AccountId, AccountMatchKind.MembershipNumber, n)));
        return found;
    }

    /// <summary>
    /// "This list member of the document holds this value", written as the list's GIN index (above) is built:
    /// <c>CAST(data ->> 'Member' as jsonb) @> '["value"]'</c>. Marten's own <c>list.Contains(value)</c> tests the whole
    /// document (<c>data @> ...</c>), which only a GIN index of the whole document serves.
    /// </summary>
    public static string ListContains(string member) => $"CAST(d.data ->> '{member}' as jsonb) @> ?::jsonb";

    /// <summary>The parameter of <see cref="ListContains"/>: a JSON array of the one value.</summary>
    public static string ListOf(string value) => System.Text.Json.JsonSerializer.Serialize(new[] { value });

    /// <summary>
    /// Runs every lookup the text could mean in one round trip, strongest match first (an exact number or e-mail before a
    /// part of a company name), one line per account.
    /// </summary>
    public static async Task<AccountSearchResults> FindAsync(IQuerySession session, string text, CancellationToken ct)
    {
        var query = text.Trim();
        var batch = session.CreateBatchQuery();

        var number = AsMembershipNumber(query);
        var byNumber = batch.Query<AccountMembership>()
            .Where(m => m.MatchesSql(ListContains(nameof(AccountMembership.MembershipNumbers)), ListOf(number ?? query)))
            .Take(Limit)
            .ToList();
        // An old number typed in another letter case: the imported old account gives it as the membership lists hold it.
        var byOldNumber = number is null ? batch.Query<Migration.LegacyAccountView>().Where(OldNumberIs(query)).Take(Limit).ToList() : null;

        var email = query.Contains('@') ? Migration.LegacyIds.NormalizeEmail(query) : null;
        var byContact = email is null ? null : batch.Query<AccountView>()
            .Where(a => a.ContactEmail.ToLower() == email).Take(Limit).ToList();
        var byOldEmail = email is null ? null : batch.Query<AccountView>()
            .Where(a => a.MatchesSql(ListContains(nameof(AccountView.OldCpsEmails)), ListOf(email))).Take(Limit).ToList();

        // Serial numbers are compared as "one serial, one owner" compares them: spaces removed, upper case, any model.
        var serial = SerialNumbers.Normalize(query);
        var bySerial = batch.Query<SerialOwnership>().Where(s => s.SerialNumber == serial).Take(Limit).ToList();

        // An invoice or credit note number, or an invoice's payment reference (derived from its number, so it names the invoice
        // without being stored; wrong check digits are a typing error and find nothing): a read of the number's claim by its
        // primary key, which holds the account.
        var document = AsDocumentNumber(query);
        var reference = CreditorReferences.LooksLikeOne(query) ? CreditorReferences.InvoiceNumberOf(query) : null;
        var invoiceNumber = document is { Kind: AccountMatchKind.InvoiceNumber } ? document.Value.Number : reference;
        var byInvoice = invoiceNumber is null ? null : batch.Load<InvoiceNumberClaim>(invoiceNumber);
        var byCreditNote = document is { Kind: AccountMatchKind.CreditNoteNumber } ? batch.Load<CreditNoteNumberClaim>(document.Value.Number) : null;

        var byName = batch.Query<AccountView>()
            .Where(a => a.CompanyName.Contains(query, StringComparison.OrdinalIgnoreCase))
            .OrderBy(a => a.CompanyName)
            .Take(Limit + 1)
            .ToList();

        await batch.Execute(ct);

        var found = new List<(Guid Account, AccountMatchKind Kind, string Value)>();
        found.AddRange((await byNumber).Select(m => (m.AccountId, AccountMatchKind.MembershipNumber,
            m.MembershipNumbers.First(n => n == (number ?? query)))));
        if (byOldNumber is not null)
            found.AddRange(await HoldersOfAsync(session, [.. (await byOldNumber).Select(l => l.OldMembershipNumber).Where(n => n != query).Distinct()], ct));
        if (byContact is not null)
            found.AddRange((await byContact).Select(a => (a.Id, AccountMatchKind.ContactEmail, a.ContactEmail)));
        if (byOldEmail is not null)
            found.AddRange((await byOldEmail).Select(a => (a.Id, AccountMatchKind.OldCpsEmail, email!)));
        // A claim holds the serial normalised; the caller reads it as registered ("0123 4567"), so that is what is shown.
        var claims = await bySerial;
        var registered = claims.Count == 0 ? new Dictionary<Guid, string?>()
            : (await session.LoadManyAsync<ProductView>(ct, claims.Select(c => c.RegistrationId))).ToDictionary(p => p.Id, p => p.SerialNumber);
        found.AddRange(claims.Select(s => (s.AccountId, AccountMatchKind.SerialNumber,
            registered.GetValueOrDefault(s.RegistrationId) ?? s.SerialNumber)));
        if (byInvoice is not null && await byInvoice is { } invoice)
            found.Add(reference is not null
                ? (invoice.AccountId, AccountMatchKind.CreditorReference, CreditorReferences.Grouped(CreditorReferences.For(invoice.Id)))
                : (invoice.AccountId, AccountMatchKind.InvoiceNumber, invoice.Id));
        if (byCreditNote is not null && await byCreditNote is { } creditNote)
            found.Add((creditNote.AccountId, AccountMatchKind.CreditNoteNumber, creditNote.Id));
        var names = await byName;
        found.AddRange(names.Take(Limit).Select(a => (a.Id, AccountMatchKind.CompanyName, a.CompanyName)));

        var distinct = found.DistinctBy(f => f.Account).ToList();
        var firstMatch = distinct.Take(Limit).ToList();
        // Name and e-mail matches came back as the account documents themselves; only membership-number and serial matches
        // need a second read, and only for the accounts not already in hand.
        var views = new Dictionary<Guid, AccountView>();
        foreach (var view in names.Concat(byContact is null ? [] : await byContact).Concat(byOldEmail is null ? [] : await byOldEmail))
            views.TryAdd(view.Id, view);
        var missing = firstMatch.Select(f => f.Account).Where(id => !views.ContainsKey(id)).ToList();
        if (missing.Count > 0)
            foreach (var view in await session.LoadManyAsync<AccountView>(ct, missing))
                views.TryAdd(view.Id, view);
        var items = firstMatch
            .Where(f => views.ContainsKey(f.Account))
            .Select(f =>
            {
                var v = views[f.Account];
                return new AccountMatch(v.Id, v.CompanyName, v.ContactEmail, v.Country, f.Kind, f.Value);
            })
            .ToList();
        var more = names.Count > Limit || distinct.Count > Limit;
        return new AccountSearchResults(query, items, more);
    }
}

public static class FindAccountsEndpoint
{
    [WolverineGet("/api/accounts", OperationId = "FindAccounts")]
    [Authorize(Roles = $"{LedgerRoles.Support},{LedgerRoles.Auditor},{LedgerRoles.Finance}")]
    [EndpointSummary("Find accounts by company name, contact or old CPS e-mail, serial number, membership number, invoice or credit note number or payment reference (staff)")]
    [ProducesResponseType<AccountSearchResults>(StatusCodes.Status200OK)]
    [ProducesResponseType<HttpValidationProblemDetails>(StatusCodes.Status400BadRequest)]
    public static async Task<IResult> Get(
        [Description("What to look for, 2 to 200 characters (spaces at either end ignored; left out, a 400): part of a company name, a contact " +
                     "or old CPS e-mail, a serial number, a membership number (an old CPS one too), an invoice or credit note number, or the " +
                     "payment reference an invoice prints.")][RequiredQuery] string? q,
        IQuerySession session, CancellationToken ct)
    {
        var text = q?.Trim() ?? "";
        if (text.Length is < AccountSearch.MinimumLength or > AccountSearch.MaximumLength)
            return Results.Problem(Problems.Invalid("q",
                $"Type {AccountSearch.MinimumLength} to {AccountSearch.MaximumLength} characters: a company name, an e-mail, a serial number, a membership number, an invoice or credit note number or a payment reference."));
        return Results.Ok(await AccountSearch.FindAsync(session, text, ct));
    }
}
