using CpsLedger.Api.Accounts;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Products;
using Microsoft.AspNetCore.Http;
using Wolverine.Http;

namespace CpsLedger.Tests.Migration;

/// <summary>The migration's decisions as pure functions.</summary>
public sealed class MigrationRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private static readonly Guid Account = Guid.NewGuid();

    private static ProductModelView Model(string code, int points, bool withdrawn = false) =>
        new() { Id = ProductModelCode.StreamIdFor(code), Code = code, Name = code, Category = "lens", Points = points, Withdrawn = withdrawn, CatalogueVersion = 3 };

    private static (LegacyAccountView View, List<LegacyProduct> Products) Legacy(params LegacyProductDetails[] products)
    {
        var view = new LegacyAccountView { Id = LegacyIds.AccountFor("k@old.example"), OldEmail = "k@old.example", OldMembershipNumber = "7" };
        view.Products = [.. products.Select((p, i) => new LegacyProduct
        {
            Id = LegacyIds.ProductFor(view.OldEmail, p, i + 1), ModelCode = p.ModelCode, SerialNumber = p.SerialNumber, PurchaseDate = p.PurchaseDate,
            CountryOfPurchase = p.CountryOfPurchase, Dealer = p.Dealer,
        })];
        return (view, view.Products);
    }

    [Fact]
    public void Complete_products_earn_points_at_once_incomplete_ones_wait_for_details_withdrawn_models_still_migrate()
    {
        var (view, pending) = Legacy(
            new LegacyProductDetails("A", "S1", new DateOnly(2020, 1, 1), "EE", "Shop"),
            new LegacyProductDetails("A", null, null, null, null),
            new LegacyProductDetails("OLD", "S2", new DateOnly(2010, 1, 1), "FI", "Shop"));
        var models = new[] { Model("A", 100), Model("OLD", 40, withdrawn: true) }.ToDictionary(m => m.Id);

        var batch = ProductMigration.Decide(Account, view, pending, models, new Dictionary<string, SerialOwnership>(), Now);

        Assert.Equal(3, batch.Registrations.Count);
        Assert.Equal([2, 1, 2], batch.Registrations.Select(r => r.Events.Count));
        var registered = (ProductRegistered)batch.Registrations[0].Events[0];
        Assert.Equal((RegistrationSource.Migration, Account, LegacyIds.RegistrationFor(pending[0].Id)), (registered.Source, registered.AccountId, registered.RegistrationId));
        Assert.Equal(40, ((PointsAllocated)batch.Registrations[2].Events[1]).Points);
        Assert.All(batch.Moved, m => Assert.False(m.WasAlreadyRegistered));
        Assert.Empty(batch.NotMigrated);
    }

    [Fact]
    public void A_serial_owned_elsewhere_is_a_conflict_one_owned_here_is_linked_and_an_unknown_model_waits()
    {
        var (view, pending) = Legacy(
            new LegacyProductDetails("A", "S1", null, null, null),
            new LegacyProductDetails("A", "S 2", null, null, null),
            new LegacyProductDetails("NEW", "S3", null, null, null));
        var mine = Guid.NewGuid();
        var owners = new[]
        {
            new SerialOwnership { Id = SerialNumbers.OwnershipKey("A", "S1"), AccountId = Guid.NewGuid(), RegistrationId = Guid.NewGuid() },
            new SerialOwnership { Id = SerialNumbers.OwnershipKey("a", "s2"), AccountId = Account, RegistrationId = mine },
        }.ToDictionary(o => o.Id);

        var batch = ProductMigration.Decide(Account, view, pending, new[] { Model("A", 1) }.ToDictionary(m => m.Id), owners, Now);

        Assert.Empty(batch.Registrations);
        var linked = Assert.Single(batch.Moved);
        Assert.Equal((pending[1].Id, mine, true), (linked.LegacyProductId, linked.RegistrationId, linked.WasAlreadyRegistered));
        Assert.Equal([NotMigratedReason.SerialOwnedByAnotherAccount, NotMigratedReason.UnknownModel], batch.NotMigrated.Select(n => n.Reason));
    }

    internal static OldEmailStanding Verified(string email) => new(email, OldCpsEmailVerificationMethod.Code, Now, null, null);

    internal static OldEmailStanding Unverified(string email) => new(email, null, null, null, null);

    [Fact]
    public void Availability_says_why_not()
    {
        var (view, _) = Legacy(new LegacyProductDetails("A", "S1", null, null, null));
        Assert.Equal(MigrationUnavailableReason.NoOldEmail, MigrationAvailability.Decide(Account, [], [], [], Now).Reason);
        Assert.Equal(MigrationUnavailableReason.NoLegacyAccount, MigrationAvailability.Decide(Account, [Verified("k@old.example")], [], [], Now).Reason);

        var open = MigrationAvailability.Decide(Account, [Verified("k@old.example")], [view], [], Now);
        Assert.Equal((true, 1), (open.Available, open.ProductsToMigrate));
        Assert.Equal([MandatoryDetail.PurchaseDate, MandatoryDetail.CountryOfPurchase, MandatoryDetail.Dealer],
            open.LegacyAccounts[0].Products[0].MissingDetails);

        view.Products[0].MigratedToAccountId = Account;
        // Products done, but the old membership number not yet in the account's history: still something to migrate.
        Assert.True(MigrationAvailability.Decide(Account, [Verified("k@old.example")], [view], [], Now).Available);
        Assert.Equal(MigrationUnavailableReason.EverythingMigrated,
            MigrationAvailability.Decide(Account, [Verified("k@old.example")], [view], ["7"], Now).Reason);
    }

    [Fact]
    public void An_email_another_account_verified_is_not_one_to_prove_the_member_is_sent_to_support()
    {
        var juhan = Unverified("juhan@old.example") with
        {
            VerifiedByAnotherAccount = Guid.NewGuid(),
            Pending = new PendingOldEmailCode(Guid.NewGuid(), Now, Now.AddHours(1), 5),
        };
        const string support = "Another business account has already proved that it owns juhan@old.example. If this account owns it, contact CPS support.";

        var both = MigrationAvailability.Decide(Account, [Unverified("p@old.example"), juhan], [], [], Now);
        Assert.Equal(MigrationUnavailableReason.OldEmailUnverified, both.Reason);
        Assert.Contains("Prove that the account owns p@old.example:", both.Explanation);
        Assert.Contains(support, both.Explanation);
        Assert.Equal([OldEmailVerificationState.Unverified, OldEmailVerificationState.VerifiedByAnotherAccount],
            both.OldEmailVerifications.Select(v => v.State));
        // The code sent before the other account verified can no longer be entered.
        Assert.Equal((null, null), (both.OldEmailVerifications[1].CodeExpiresAt, both.OldEmailVerifications[1].AttemptsLeft));

        var only = MigrationAvailability.Decide(Account, [juhan], [], [], Now);
        Assert.Equal((false, MigrationUnavailableReason.OldEmailVerifiedByAnotherAccount), (only.Available, only.Reason));
        Assert.Equal(support, only.Explanation);

        // Beside a verified e-mail with something to migrate: available, and the note says why the other is not shown.
        var (view, _) = Legacy(new LegacyProductDetails("A", "S1", null, null, null));
        var open = MigrationAvailability.Decide(Account, [Verified("k@old.example"), juhan], [view], [], Now);
        Assert.True(open.Available);
        Assert.DoesNotContain("Prove", open.Explanation);
        Assert.EndsWith(support, open.Explanation);
    }

    [Fact]
    public void Unlinking_is_refused_once_something_was_migrated_from_the_email()
    {
        var account = new BusinessAccount { Id = Account, OldCpsEmails = ["k@old.example"] };
        var (view, _) = Legacy(new LegacyProductDetails("A", "S1", null, null, null));

        Assert.Same(WolverineContinue.NoProblems, OldCpsEmailLinks.ValidateUnlink(account, "k@old.example", "wrong", "T-1", view, []));
        Assert.Equal(("k@old.example", "wrong", "T-1"),
            (OldCpsEmailLinks.DecideUnlink(account, "k@old.example", " wrong ", " T-1 ", Now) is var u ? (u.Email, u.Reason, u.TicketReference) : default));
        Assert.Equal(400, OldCpsEmailLinks.ValidateUnlink(account, "k@old.example", " ", "T-1", view, []).Status);
        // The reason and the ticket are named together, as a body's fields are.
        foreach (var ticket in new[] { null, " ", new string('T', 61) })
            Assert.Equal(["ticketReference"], ((HttpValidationProblemDetails)OldCpsEmailLinks.ValidateUnlink(account, "k@old.example", "wrong", ticket, view, [])).Errors.Keys);
        Assert.Equal(["reason", "ticketReference"],
            ((HttpValidationProblemDetails)OldCpsEmailLinks.ValidateUnlink(account, "k@old.example", null, null, view, [])).Errors.Keys.Order());
        Assert.Equal(404, OldCpsEmailLinks.ValidateUnlink(account, "x@old.example", "wrong", "T-1", view, []).Status);
        Assert.Equal(409, OldCpsEmailLinks.ValidateUnlink(account, "k@old.example", "wrong", "T-1", view, ["7"]).Status);
        view.Products[0].MigratedToAccountId = Account;
        Assert.Equal(409, OldCpsEmailLinks.ValidateUnlink(account, "k@old.example", "wrong", "T-1", view, []).Status);

    }

    [Fact]
    public void Support_linking_verifies_the_email_unless_this_account_has_or_another_account_verified_it()
    {
        var account = new BusinessAccount { Id = Account, OldCpsEmails = ["k@old.example"] };

        // Already proved by this account: nothing to write.
        Assert.Empty(OldCpsEmailLinks.DecideLink(account, Verified("k@old.example"), new LinkOldCpsEmail(" K@old.example", "again", "CPS-SUP-1"), Now));
        Assert.Same(WolverineContinue.NoProblems,
            OldCpsEmailLinks.ValidateLink(account, Verified("k@old.example"), null, new LinkOldCpsEmail("k@old.example", "again", "CPS-SUP-1")));

        // Given at opening but unproved, or not given at all: the link and its verification, with the reason.
        var given = OldCpsEmailLinks.DecideLink(account, Unverified("k@old.example"), new LinkOldCpsEmail("K@old.example", " ticket 1 ", "CPS-SUP-1"), Now);
        Assert.Equal([typeof(OldCpsEmailLinked), typeof(OldCpsEmailVerified)], given.Select(e => e.GetType()));
        var verified = (OldCpsEmailVerified)given[1];
        Assert.Equal((OldCpsEmailVerificationMethod.SupportLink, "ticket 1", "k@old.example"), (verified.Method, verified.Reason, verified.Email));
        Assert.Equal("n@old.example", ((OldCpsEmailLinked)OldCpsEmailLinks.DecideLink(account, null, new LinkOldCpsEmail("N@old.example ", " why ", "CPS-SUP-1"), Now)[0]).Email);

        // Proved by another account: refused, naming that account for support.
        var other = Guid.NewGuid();
        var refused = OldCpsEmailLinks.ValidateLink(account, null, other, new LinkOldCpsEmail("n@old.example", "why", "CPS-SUP-1"));
        Assert.Equal(409, refused.Status);
        Assert.Equal("verified_by_another_account", refused.Extensions["reason"]);
        Assert.Equal(other, refused.Extensions["accountId"]);

        // An account keeps at most as many old e-mails as it may give when opened.
        var full = account with { OldCpsEmails = [.. Enumerable.Range(0, OpenBusinessAccountValidator.MaxOldCpsEmails).Select(i => $"{i}@old.example")] };
        Assert.Equal(409, OldCpsEmailLinks.ValidateLink(full, null, null, new LinkOldCpsEmail("n@old.example", "why", "CPS-SUP-1")).Status);
        Assert.Same(WolverineContinue.NoProblems, OldCpsEmailLinks.ValidateLink(full, Unverified("0@old.example"), null, new LinkOldCpsEmail("0@old.example", "again", "CPS-SUP-1")));
    }
}
