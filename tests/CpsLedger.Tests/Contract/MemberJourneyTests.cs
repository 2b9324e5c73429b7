using CpsLedger.Api.Platform;
using CpsLedger.Tests.Contract.Generated;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;

namespace CpsLedger.Tests.Contract;

/// <summary>
/// The member journey as a portal would write it, through the client generated from the OpenAPI document and nothing else:
/// open the account, register, complete a registration, get invited, see the eligible tiers, join.
/// </summary>
public sealed class MemberJourneyTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task a_portal_built_on_the_generated_client_takes_a_member_from_sign_up_to_membership()
    {
        await App.ListModel("M-499", "Model 499", "camera_body", 499);
        await App.ListModel("M-1", "Model 1", "accessory", 1);
        var portal = new LedgerClient(App.ClientAs(LedgerRoles.Portal));

        var opened = await portal.OpenBusinessAccountAsync(new OpenBusinessAccount
        {
            CompanyName = "Valgus Studio OÜ",
            ContactEmail = "journey@example.ee",
            Country = "EE",
        }, idempotency_Key: "journey-open");
        var account = opened.AccountId;
        var member = new LedgerClient(App.Member(account));

        var camera = await member.RegisterProductAsync(account, new RegisterProduct
        {
            ModelCode = "M-499",
            SerialNumber = "JOURNEY-1",
            PurchaseDate = new DateTimeOffset(2024, 3, 1, 0, 0, 0, TimeSpan.Zero),
            CountryOfPurchase = "EE",
            Dealer = "Photopoint",
        });
        Assert.True(camera.Registration.GreenTick);
        var accessory = await member.RegisterProductAsync(account, new RegisterProduct
        {
            ModelCode = "M-1",
            SerialNumber = "JOURNEY-2",
            PurchaseDate = new DateTimeOffset(2024, 3, 1, 0, 0, 0, TimeSpan.Zero),
            CountryOfPurchase = "EE",
            BestGuesses = [MandatoryDetail.Purchase_date],
        });
        Assert.False(accessory.Registration.GreenTick);
        Assert.Equal([MandatoryDetail.Dealer], accessory.Registration.MissingDetails);

        // Completing the details sets off the invitation policy: wait until what it set off is handled.
        var completed = await App.Tracked(() => member.AmendProductDetailsAsync(account, accessory.Registration.RegistrationId,
            new AmendProductDetails { Dealer = "Photopoint" }));
        Assert.True(completed.GreenTick);
        Assert.Equal(1, completed.Points);

        var membership = await member.GetMembershipAsync(account);
        Assert.NotNull(membership.Invitation);
        Assert.Equal(500, membership.Invitation!.Points);

        var tiers = await member.GetEligibleTiersAsync(account);
        var tier = tiers.Standard.First(t => t.Eligible);

        var joined = await member.JoinCpsAsync(account, new JoinCps { Tier = tier.Code, PaymentMethod = PaymentMethod.Card },
            idempotency_Key: "journey-join");
        Assert.Equal(tier.Code, joined.Tier);
        Assert.Equal(PaymentMethod.Card, joined.PaymentMethod);
        Assert.False(string.IsNullOrEmpty(joined.MembershipNumber));
        Assert.Equal(joined.MembershipNumber, (await member.GetMembershipAsync(account)).Membership!.MembershipNumber);
    }
}
