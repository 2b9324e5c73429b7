using CpsLedger.Api.Platform;
using JasperFx.CodeGeneration;
using Wolverine.Http;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// Only a read may answer an unknown account's 404 itself (in its own batched query): a command must not decide anything
/// before the account is known to exist, so the policy refuses the attribute on one when the service starts.
/// </summary>
public sealed class AccountScopePolicyTests
{
    [Fact]
    public void A_command_that_claims_to_check_the_account_in_its_own_batch_is_refused_at_start()
    {
        var command = HttpChain.ChainFor<ScopedEndpoints>(x => x.Post(Guid.Empty));

        var refusal = Assert.Throws<InvalidOperationException>(() => new AccountScopePolicy().Apply([command], new GenerationRules(), null!));

        Assert.Equal("Route /api/accounts/{accountId}/probe: only a GET may check the account in its own batch.", refusal.Message);
    }

    [Fact]
    public void A_read_that_checks_the_account_in_its_own_batch_gets_no_check_before_it()
    {
        var read = HttpChain.ChainFor<ScopedEndpoints>(x => x.Get(Guid.Empty));
        var before = read.Middleware.ToList();

        new AccountScopePolicy().Apply([read], new GenerationRules(), null!);

        // Still its own route reading only: no account check (AccountExistence.Require and its continuation) put before it.
        Assert.Equal(before, read.Middleware);
    }

    public sealed class ScopedEndpoints
    {
        [WolverinePost("/api/accounts/{accountId}/probe"), ChecksAccountInItsBatch]
        public string Post(Guid accountId) => accountId.ToString();

        [WolverineGet("/api/accounts/{accountId}/probe"), ChecksAccountInItsBatch]
        public string Get(Guid accountId) => accountId.ToString();
    }
}
